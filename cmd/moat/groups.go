package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// guardGroups makes every command group (a command that only holds
// subcommands) refuse an argument it does not know. Left alone, cobra
// shows a group's help and exits 0 whatever follows it, so a mistyped
// `moat robot lst` in a script would look like success. A group called
// with no argument still shows its help.
func guardGroups(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		guardGroups(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2 // SuggestionsFor treats 0 as exact matches only
	cmd.Args = knownSubcommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// knownSubcommand is the Args check of a group: cobra only gets here when
// args[0] names none of its subcommands.
func knownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return fmt.Errorf("%s\n(%s takes %s; see '%s --help')", msg, cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
}

// newHelpCmd replaces cobra's help command, which answers an unknown
// topic with the root's usage and exit status 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil {
				return err
			}
			if err := knownSubcommand(target, rest); err != nil {
				return err
			}
			return target.Help()
		},
	}
}
