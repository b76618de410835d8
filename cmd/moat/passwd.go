package main

import (
	"github.com/spf13/cobra"
)

// newUserPasswdCmd sets a user's password from stdin. It works on the
// database directly, so it is also how a lost admin password is reset:
// whoever can read the database is trusted already, and a running
// server sees the new password at its next login check.
func newUserPasswdCmd(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (read from stdin); also resets a lost admin password",
		Long: `Set a user's password, read from stdin (one line), as for user create.

It works on the database directly, with the server running or stopped, so
it also resets a lost admin password:

  printf '%s\n' 'new-password' | moat user passwd admin --data-dir DIR

Refresh tokens obtained with the old password stop working. The change is
recorded in the audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: withIdentities(f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			pw, err := readSecret(cmd.InOrStdin())
			if err != nil {
				return err
			}
			err = s.ids.SetPassword(cmd.Context(), args[0], pw)
			return s.record(cmd.Context(), "admin:SetPassword", "user/"+args[0], nil, err)
		}),
	}
}
