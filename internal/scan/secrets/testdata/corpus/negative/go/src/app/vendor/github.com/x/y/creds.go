const token = "ghp_SKx3ni96Bs6wxd80NMtaCacpenpZouOhFcQq"
