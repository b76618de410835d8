package localca

import (
	"fmt"
	"strings"
)

// TrustInstructions tells an operator how to make clients trust the CA
// in caFile when they reach the registry at hostPort (HOST:PORT).
func TrustInstructions(caFile, hostPort string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "moat made a local certificate authority for --tls-self-signed.\n")
	fmt.Fprintf(&b, "Clients must trust its certificate, %s, to reach https://%s:\n\n", caFile, hostPort)
	fmt.Fprintf(&b, "  whole system (Debian, Ubuntu):\n")
	fmt.Fprintf(&b, "    sudo cp %s /usr/local/share/ca-certificates/moat-local-ca.crt && sudo update-ca-certificates\n", caFile)
	fmt.Fprintf(&b, "  podman, skopeo, buildah, CRI-O (containers/image):\n")
	fmt.Fprintf(&b, "    sudo mkdir -p /etc/containers/certs.d/%[1]s && sudo cp %[2]s /etc/containers/certs.d/%[1]s/ca.crt\n", hostPort, caFile)
	fmt.Fprintf(&b, "    or per command: skopeo --cert-dir DIR (a directory holding ca.crt), podman --cert-dir DIR\n")
	fmt.Fprintf(&b, "  containerd: sudo mkdir -p /etc/containerd/certs.d/%[1]s and write hosts.toml with\n", hostPort)
	fmt.Fprintf(&b, "    server = \"https://%[1]s\" / [host.\"https://%[1]s\"] ca = \"%[2]s\"\n", hostPort, caFile)
	fmt.Fprintf(&b, "  docker:\n")
	fmt.Fprintf(&b, "    sudo mkdir -p /etc/docker/certs.d/%[1]s && sudo cp %[2]s /etc/docker/certs.d/%[1]s/ca.crt\n", hostPort, caFile)
	fmt.Fprintf(&b, "  crane and other Go clients: SSL_CERT_FILE=%s crane ...\n", caFile)
	fmt.Fprintf(&b, "  oras: oras ... --ca-file %s\n", caFile)
	fmt.Fprintf(&b, "  curl: curl --cacert %s https://%s/v2/\n", caFile, hostPort)
	return b.String()
}
