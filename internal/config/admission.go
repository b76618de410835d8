package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/wildcard"
)

// Admission is the admission section: the rules images must pass to run
// in a cluster (the Kubernetes admission webhook and the check API), and
// where the registry learns what runs.
//
//	admission:
//	  listeners: [webhook]               # where the webhook answers (required with access control on)
//	  cluster: prod-eu-1                 # the name the inventory records
//	  registryHosts: ["registry.example.com"]   # default: the listeners' addresses
//	  otherRegistries: deny              # deny | allow | a list of allowed hosts
//	  trustPolicy: moat                  # for image.signed; default each repository's gate's, else moat
//	  rules:
//	    - name: no-critical
//	      expression: 'image.scan.status == "COMPLETE" && image.findings.critical == 0'
//	      mode: enforce                  # enforce (deny) | audit (allow with a warning)
//	      namespaces: ["prod-*"]         # optional; default all
//	      excludeNamespaces: ["kube-system"]
//	      onError: deny                  # deny | allow, when the facts cannot be read
//	  inventory:
//	    kubeconfig: /etc/moat/kubeconfig # or inCluster: true; lists running pods
//	    interval: 1m
type Admission struct {
	// Listeners names the listeners the webhook answers on. The webhook
	// has no login (the API server calls it), and its answers tell what
	// images hold: with access control on it answers nowhere unless
	// listed, and the listener should require the API server's client
	// certificate. Without access control it answers everywhere.
	Listeners       []string        `yaml:"listeners"`
	Cluster         string          `yaml:"cluster"`
	RegistryHosts   []string        `yaml:"registryHosts"`
	OtherRegistries OtherRegistries `yaml:"otherRegistries"`
	TrustPolicy     string          `yaml:"trustPolicy"`
	Rules           []AdmissionRule `yaml:"rules"`
	Inventory       InventorySource `yaml:"inventory"`
}

// OtherRegistries is what admission does with images of hosts that are
// not this registry: Deny them, Allow them, or allow the Hosts listed.
type OtherRegistries struct {
	Allow bool
	Hosts []string
}

// UnmarshalYAML takes "deny", "allow" or a list of hosts.
func (o *OtherRegistries) UnmarshalYAML(unmarshal func(any) error) error {
	var word string
	if err := unmarshal(&word); err == nil {
		switch strings.ToLower(word) {
		case "deny", "":
			*o = OtherRegistries{}
		case "allow":
			*o = OtherRegistries{Allow: true}
		default:
			return fmt.Errorf("otherRegistries %q: want deny, allow or a list of hosts", word)
		}
		return nil
	}
	var hosts []string
	if err := unmarshal(&hosts); err != nil {
		return fmt.Errorf("otherRegistries: want deny, allow or a list of hosts")
	}
	*o = OtherRegistries{Hosts: hosts}
	return nil
}

// AdmissionRule is one CEL expression over an image's facts that must
// hold for the image to run.
type AdmissionRule struct {
	Name       string `yaml:"name" json:"name"`
	Expression string `yaml:"expression" json:"expression"`
	// Mode is "enforce" (default: a failing image is refused) or "audit"
	// (admitted with a warning).
	Mode              string   `yaml:"mode" json:"mode"`
	Namespaces        []string `yaml:"namespaces" json:"namespaces,omitempty"`
	ExcludeNamespaces []string `yaml:"excludeNamespaces" json:"excludeNamespaces,omitempty"`
	// OnError is what an enforced rule answers when the image's facts
	// cannot be read or the expression fails: "deny" (default) or "allow".
	OnError string `yaml:"onError" json:"onError,omitempty"`
	// Message replaces the rule's name in denials.
	Message string `yaml:"message" json:"message,omitempty"`
}

// Admission rule modes and error answers.
const (
	ModeEnforce  = "enforce"
	ModeAudit    = "audit"
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// Applies reports whether the rule judges pods in namespace.
func (r AdmissionRule) Applies(namespace string) bool {
	if len(r.Namespaces) > 0 && !wildcard.Any(r.Namespaces, namespace) {
		return false
	}
	return len(r.ExcludeNamespaces) == 0 || !wildcard.Any(r.ExcludeNamespaces, namespace)
}

// Enforced reports whether a failure refuses the image.
func (r AdmissionRule) Enforced() bool { return r.Mode == "" || r.Mode == ModeEnforce }

// InventorySource is where serve lists the running pods of the cluster
// it admits for, to reconcile the inventory.
type InventorySource struct {
	Kubeconfig string        `yaml:"kubeconfig"`
	Context    string        `yaml:"context"`
	InCluster  bool          `yaml:"inCluster"`
	Interval   time.Duration `yaml:"interval"`
}

// Enabled reports whether serve lists pods itself.
func (s InventorySource) Enabled() bool { return s.Kubeconfig != "" || s.InCluster }

// ValidateRule checks a rule's shape (its expression is compiled by the
// admission package).
func ValidateRule(key string, r AdmissionRule) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s"+format, append([]any{ErrInvalid, key}, args...)...))
	}
	if r.Name == "" {
		bad(".name is empty")
	}
	if strings.TrimSpace(r.Expression) == "" {
		bad(".expression is empty")
	}
	if r.Mode != "" && r.Mode != ModeEnforce && r.Mode != ModeAudit {
		bad(".mode %q: want enforce or audit", r.Mode)
	}
	if r.OnError != "" && r.OnError != OnErrorDeny && r.OnError != OnErrorAllow {
		bad(".onError %q: want deny or allow", r.OnError)
	}
	for _, p := range append(slices.Clone(r.Namespaces), r.ExcludeNamespaces...) {
		if err := wildcard.Check(p); err != nil {
			bad(" namespaces: %v", err)
		}
	}
	return errs
}

func (c *Config) validateAdmission() []error {
	var errs []error
	a := c.Admission
	names := map[string]bool{}
	for i, r := range a.Rules {
		key := fmt.Sprintf("admission.rules[%d]", i)
		errs = append(errs, ValidateRule(key, r)...)
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("%w: %s.name %q is used twice", ErrInvalid, key, r.Name))
		}
		names[r.Name] = true
	}
	for _, h := range append(slices.Clone(a.RegistryHosts), a.OtherRegistries.Hosts...) {
		if h == "" || strings.ContainsAny(h, "/ @") {
			errs = append(errs, fmt.Errorf("%w: admission: registry host %q: want HOST or HOST:PORT", ErrInvalid, h))
		}
	}
	known := map[string]bool{c.Auth.Listener: true}
	for _, l := range c.Listeners {
		known[l.Name] = true
	}
	for _, l := range a.Listeners {
		if !known[l] {
			errs = append(errs, fmt.Errorf("%w: admission.listeners: no listener is named %q", ErrInvalid, l))
		}
	}
	if a.Inventory.Kubeconfig != "" && a.Inventory.InCluster {
		errs = append(errs, fmt.Errorf("%w: admission.inventory: kubeconfig and inCluster exclude each other", ErrInvalid))
	}
	if a.Inventory.Interval < 0 || (a.Inventory.Interval > 0 && a.Inventory.Interval < time.Second) {
		errs = append(errs, fmt.Errorf("%w: admission.inventory.interval %s: want 1s or more", ErrInvalid, a.Inventory.Interval))
	}
	if a.Inventory.Enabled() && a.Cluster == "" {
		errs = append(errs, fmt.Errorf("%w: admission.inventory needs admission.cluster, the name it records pods under", ErrInvalid))
	}
	return errs
}
