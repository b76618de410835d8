package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// apiClient calls a moat registry's /api/v1 as the user logged in to it
// with crane, docker or podman (their credentials file), or as
// MOAT_USERNAME and MOAT_PASSWORD when set.
type apiClient struct {
	reg    name.Registry
	client *http.Client
}

func newAPIClient(reg name.Registry) *apiClient {
	return &apiClient{reg: reg, client: &http.Client{Timeout: time.Minute}}
}

// registryOf parses HOST[:PORT] as the registry to call.
func registryOf(host string, insecure bool) (name.Registry, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewRegistry(host, opts...)
}

// call sends body (JSON, nil for none) and decodes the answer into out.
// Errors carry the registry's message.
func (c *apiClient) call(method, path string, query url.Values, body, out any) error {
	u := url.URL{Scheme: c.reg.Scheme(), Host: c.reg.RegistryStr(), Path: path, RawQuery: query.Encode()}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user := os.Getenv("MOAT_USERNAME"); user != "" {
		req.SetBasicAuth(user, os.Getenv("MOAT_PASSWORD"))
	} else {
		auth, err := authn.DefaultKeychain.Resolve(c.reg)
		if err != nil {
			return err
		}
		if cfg, err := auth.Authorization(); err == nil && cfg.Username != "" {
			req.SetBasicAuth(cfg.Username, cfg.Password)
		}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s: %s (%s)", resp.Status, e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("%s from %s", resp.Status, u.Host)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the registry's answer: %w", err)
	}
	return nil
}
