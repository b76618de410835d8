// Command moat is the single binary of the moat registry: the server, the
// scanner CLI and the administration commands. Each subcommand lives in its
// own file and only parses flags before calling into internal/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var exit exitError
		if asExit(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "moat:", err)
		os.Exit(2)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "moat",
		Short:         "A secure container registry with the supply-chain pipeline built in",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Subcommands are wired here explicitly, one line each.
	root.AddCommand(
		newServeCmd(),
		newSBOMCmd(),
		newScanCmd(), newDBCmd(),
		newLintCmd(),
		newUserCmd(), newRobotCmd(), newPolicyCmd(), newAuditCmd(),
	)
	return root
}
