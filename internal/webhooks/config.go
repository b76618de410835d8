package webhooks

import (
	"fmt"

	"github.com/moat-dev/moat/internal/config"
)

// FromConfig turns the configuration file's webhooks into the argument
// of SyncConfig, reading each secret from where the file says it is;
// lookup reads the environment (os.LookupEnv in production).
func FromConfig(cs []config.Webhook, lookup func(string) (string, bool)) ([]Webhook, error) {
	out := make([]Webhook, 0, len(cs))
	for _, c := range cs {
		secret, err := c.SecretValue(lookup)
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		out = append(out, Webhook{Name: c.Name, URL: c.URL, Secret: secret, Events: c.Events,
			Repositories: c.Repositories, Enabled: c.IsEnabled(), Source: SourceConfig})
	}
	return out, nil
}
