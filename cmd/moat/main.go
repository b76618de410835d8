// Command moat is the single binary of the moat registry: the server, the
// scanner CLI and the administration commands. Each subcommand lives in its
// own file and only parses flags before calling into internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status: 0 on
// success, the status an exitError asks for, and 2 for any other error
// (unknown commands and bad flags included), which it prints to stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit exitError
	if asExit(err, &exit) {
		return int(exit)
	}
	fmt.Fprintln(stderr, "moat:", err)
	return 2
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
		newSigningCmd(), newTrustCmd(), newVerifyCmd(), newCheckCmd(), newInventoryCmd(), newLifecycleCmd(),
		newVersionCmd(),
	)
	root.SetHelpCommand(newHelpCmd())
	// cobra adds this lazily when it executes; add it now so that the
	// guard below covers it too.
	root.InitDefaultCompletionCmd()
	guardGroups(root)
	return root
}
