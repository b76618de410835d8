package misconfig

import (
	"fmt"

	"github.com/moat-dev/moat/internal/scan/report"
)

// Check ids. They never change meaning.
const (
	CheckRootUser       = "MC001"
	CheckSensitivePort  = "MC002"
	CheckNoHealthcheck  = "MC003"
	CheckAddRemote      = "MC004"
	CheckHistorySecret  = "MC005"
	CheckEnvSecret      = "MC006"
	CheckSetuid         = "MC101"
	CheckWorldWritable  = "MC102"
	CheckShell          = "MC103"
	CheckPackageManager = "MC104"
	CheckNetworkTool    = "MC105"
)

// Finding is one misconfiguration.
type Finding struct {
	ID       string          `json:"id"`
	Severity report.Severity `json:"severity"`
	Title    string          `json:"title"`
	Message  string          `json:"message"`
	// Path is the file concerned, or "image-config"/"image-history".
	Path string `json:"path,omitempty"`
	// Layer is the digest of the layer that added the file, when known.
	Layer string `json:"layer,omitempty"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s: %s", f.ID, f.Severity, f.Path, f.Message)
}
