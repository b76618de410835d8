// Package kube is a small Kubernetes API client for the inventory reporter:
// it lists every pod of a cluster and reads ReplicaSets' owners, nothing
// more. It deliberately avoids k8s.io/client-go, which would weigh more than
// the rest of the binary for two GET requests; objects are decoded with
// encoding/json into the k8s.io/api types.
//
// Credentials come from a kubeconfig file (FromKubeconfig) or from the pod's
// service account (InCluster). Credential plugins (exec, auth-provider) and
// impersonation are not supported and are refused with an error rather than
// silently ignored.
package kube

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	userAgent      = "moat-inventory"
	requestTimeout = 30 * time.Second

	// podPageSize keeps each list page, and so each response held in memory
	// at once, to a few megabytes on typical clusters.
	podPageSize = 500

	// maxListBody bounds one page of pods. Pods average a few KiB (managed
	// fields included), so 500 of them fit comfortably; a larger answer is a
	// misbehaving server or proxy, not a page we want to buffer.
	maxListBody = 64 << 20
	// maxObjectBody bounds a single object: etcd refuses objects over
	// 1.5 MiB, so anything much larger is not an object.
	maxObjectBody = 4 << 20
	// maxErrorBody bounds what is read of a non-2xx answer to find its
	// Status message.
	maxErrorBody = 64 << 10

	// tokenMaxAge is how long a token read from a file is reused. Bound
	// service-account tokens are rotated by the kubelet well before they
	// expire, so re-reading every minute always picks up the current one.
	tokenMaxAge = time.Minute
)

// Client talks to one Kubernetes API server. It is safe for concurrent use:
// everything but the cached token file is immutable after construction.
type Client struct {
	server string // base URL without trailing slash; may carry a path prefix (API proxies)
	hc     *http.Client
	creds  credentials

	// maxListBody and maxObjectBody are fields so tests can lower them.
	maxListBody   int64
	maxObjectBody int64
}

// credentials puts one user's credentials on each request. Client
// certificates live in the TLS configuration instead.
type credentials struct {
	token              string     // static bearer token
	tokenFile          *tokenFile // bearer token re-read from a file; used when token is ""
	username, password string     // basic auth
}

func (c *credentials) apply(req *http.Request) error {
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.tokenFile != nil:
		tok, err := c.tokenFile.get()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case c.username != "" || c.password != "":
		req.SetBasicAuth(c.username, c.password)
	}
	return nil
}

// tokenFile caches a bearer token read from a file and reads it again once
// it is older than maxAge, so rotated tokens are picked up without restart.
type tokenFile struct {
	path   string
	maxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex
	token  string
	readAt time.Time
}

func newTokenFile(path string) (*tokenFile, error) {
	t := &tokenFile{path: path, maxAge: tokenMaxAge, now: time.Now}
	// Read once now so a missing or empty file fails construction, not the
	// first request.
	if _, err := t.get(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tokenFile) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.token != "" && now.Sub(t.readAt) < t.maxAge {
		return t.token, nil
	}
	tok, err := readToken(t.path)
	if err != nil {
		if t.token != "" {
			// Keep the last good token: a failed re-read (file being
			// replaced) must not fail requests while that token is still
			// valid. readAt is left alone, so the next request retries.
			return t.token, nil
		}
		return "", err
	}
	t.token, t.readAt = tok, now
	return tok, nil
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("kube: reading token file: %w", err)
	}
	defer f.Close()
	// Tokens are a few KiB; the bound only guards against pointing at the
	// wrong file.
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return "", fmt.Errorf("kube: reading token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("kube: token file %s is empty", path)
	}
	return tok, nil
}

// newClient checks the server URL and builds the HTTP client. proxy nil
// means the environment's proxy settings (HTTPS_PROXY, NO_PROXY), as kubectl
// does.
func newClient(server string, tlsConf *tls.Config, proxy func(*http.Request) (*url.URL, error), creds credentials) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("kube: server %q: %w", server, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("kube: server %q: scheme must be https or http", server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("kube: server %q has no host", server)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("kube: server %q must not have a query, fragment or user info", server)
	}
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	// A Transport of our own rather than a clone of http.DefaultTransport,
	// which any package may have replaced.
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Client{
		server: strings.TrimRight(u.String(), "/"),
		hc: &http.Client{
			Transport: tr,
			Timeout:   requestTimeout,
			// The API server does not redirect; following one could hand
			// the credentials to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		creds:         creds,
		maxListBody:   maxListBody,
		maxObjectBody: maxObjectBody,
	}, nil
}

// Server returns the API server's base URL.
func (c *Client) Server() string { return c.server }

// apiError is a non-2xx answer of the API server.
type apiError struct {
	url     string // without query: continue tokens are long and say nothing
	code    int
	status  string // HTTP status line, e.g. "403 Forbidden"
	message string // the Status message, or the start of a non-Status body
}

func (e *apiError) Error() string {
	s := "kube: GET " + e.url + ": " + e.status
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

func isStatus(err error, code int) bool {
	ae, ok := errors.AsType[*apiError](err)
	return ok && ae.code == code
}

// get fetches path (with query) and decodes the JSON answer into out,
// reading at most limit bytes. Non-2xx answers are returned as *apiError.
func (c *Client) get(ctx context.Context, path string, query url.Values, limit int64, out any) error {
	u := c.server + path
	full := u
	if len(query) > 0 {
		full += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return fmt.Errorf("kube: GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if err := c.creds.apply(req); err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("kube: GET %s: %w", u, err)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{url: u, code: resp.StatusCode, status: resp.Status, message: statusMessage(resp.Body)}
	}
	// http.MaxBytesReader accepts a nil ResponseWriter; it turns an
	// oversized body into a *http.MaxBytesError we can name.
	body := http.MaxBytesReader(nil, resp.Body, limit)
	if err := json.NewDecoder(body).Decode(out); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("kube: GET %s: response larger than %d bytes", u, limit)
		}
		return fmt.Errorf("kube: GET %s: decoding %s response: %w", u, resp.Header.Get("Content-Type"), err)
	}
	return nil
}

// statusMessage extracts the message of a metav1.Status body; for other
// bodies (a proxy's HTML page, plain text) it returns their start, cleaned
// up, so the error still says something.
func statusMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	var st metav1.Status
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return st.Message
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// ListPods returns every pod of every namespace, fetched in pages of 500.
// If the continue token expires mid-list (410 Gone, the server compacted
// the snapshot being paged through), the list starts over once: a consistent
// list beats a partial or duplicated one.
func (c *Client) ListPods(ctx context.Context) ([]corev1.Pod, error) {
	pods, expired, err := c.listPods(ctx)
	if !expired {
		return pods, err
	}
	pods, expired, err = c.listPods(ctx)
	if expired {
		return nil, fmt.Errorf("kube: listing pods: continue token expired again after restarting the list: %w", err)
	}
	return pods, err
}

// listPods makes one pass over all pages. expired reports a 410 on a
// continued page, the only failure worth restarting for.
func (c *Client) listPods(ctx context.Context) (pods []corev1.Pod, expired bool, err error) {
	cont := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(podPageSize)}}
		if cont != "" {
			q.Set("continue", cont)
		}
		var list corev1.PodList
		if err := c.get(ctx, "/api/v1/pods", q, c.maxListBody, &list); err != nil {
			return nil, cont != "" && isStatus(err, http.StatusGone), err
		}
		if pods == nil {
			pods = make([]corev1.Pod, 0, preallocate(len(list.Items), list.RemainingItemCount))
		}
		pods = append(pods, list.Items...)
		if list.Continue == "" {
			return pods, false, nil
		}
		if list.Continue == cont {
			// A server that hands back the token it was given would loop
			// forever.
			return nil, false, fmt.Errorf("kube: listing pods: server returned the same continue token twice")
		}
		cont = list.Continue
	}
}

// preallocate sizes the pod slice from the server's remaining-item estimate,
// capped so a bogus estimate cannot make us allocate a huge slice up front.
func preallocate(first int, remaining *int64) int {
	n := int64(first)
	if remaining != nil && *remaining > 0 {
		n += min(*remaining, 100_000)
	}
	return int(n)
}

// ReplicaSetOwner returns the kind and name of the owner of ReplicaSet
// namespace/name (typically "Deployment", name). It returns ("", "", nil)
// when the ReplicaSet has no owner or no longer exists: between listing a
// pod and asking about its ReplicaSet, the ReplicaSet may be gone.
func (c *Client) ReplicaSetOwner(ctx context.Context, namespace, name string) (kind, ownerName string, err error) {
	if !validSegment(namespace) || !validSegment(name) {
		return "", "", fmt.Errorf("kube: invalid ReplicaSet %q/%q", namespace, name)
	}
	var rs appsv1.ReplicaSet
	path := "/apis/apps/v1/namespaces/" + url.PathEscape(namespace) + "/replicasets/" + url.PathEscape(name)
	if err := c.get(ctx, path, nil, c.maxObjectBody, &rs); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return "", "", nil
		}
		return "", "", err
	}
	kind, ownerName = ControllerOf(rs.OwnerReferences)
	return kind, ownerName, nil
}

// validSegment refuses names that would change the request's meaning: an
// empty one turns a GET into a list, "." and ".." may be normalised away by
// proxies. Kubernetes allows none of them as names.
func validSegment(s string) bool {
	return s != "" && s != "." && s != ".."
}

// Owner returns the kind and name of the pod's controller: the owner
// reference marked controller: true, else the first one; ("", "") for a
// pod without owners.
func Owner(pod corev1.Pod) (kind, name string) {
	return ControllerOf(pod.OwnerReferences)
}

// ControllerOf returns the owner reference marked controller: true among
// refs, else the first one; ("", "") without any.
func ControllerOf(refs []metav1.OwnerReference) (kind, name string) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.Kind, r.Name
		}
	}
	if len(refs) > 0 {
		return refs[0].Kind, refs[0].Name
	}
	return "", ""
}
