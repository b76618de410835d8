// Package conformance holds the settings moat runs the OCI
// distribution-spec conformance suite with, shared by the in-process
// handler test and the end-to-end test against the moat binary.
package conformance

// Version is the pinned suite; scripts/install-deps.sh builds the same
// version into .tools/conformance/<Version>/conformance.
const Version = "v0.0.0-20260831232431-97274622c111"

// Env configures the suite for spec version 1.1 with every test area on:
// pull, push, content discovery (tags list), content management (deletes),
// referrers and OCI-Subject, blob mounts, upload cancel,
// Docker-Content-Digest headers, and every data kind including sha512
// digests and non-distributable layers, plus tags given as query parameters
// on manifest PUT (OCI_API_MANIFESTS_TAG_PARAM, from a later draft, which
// moat supports). One setting stays off: OCI_DATA_SPARSE (manifests whose
// blobs were never pushed), which moat rejects by design so that no stored
// manifest references missing content. addr is host:port.
func Env(addr, resultsDir string) []string {
	return []string{
		"OCI_REGISTRY=" + addr,
		"OCI_TLS=disabled",
		"OCI_VERSION=1.1",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_USERNAME=",
		"OCI_PASSWORD=",
		"OCI_RESULTS_DIR=" + resultsDir,
		"OCI_LOG=warn",
		"OCI_API_PING=true",
		"OCI_API_PULL=true",
		"OCI_API_PUSH=true",
		"OCI_API_BLOBS_ATOMIC=true",
		"OCI_API_BLOBS_DELETE=true",
		"OCI_API_BLOBS_DIGEST_HEADER=true",
		"OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true",
		"OCI_API_MANIFESTS_ATOMIC=true",
		"OCI_API_MANIFESTS_DELETE=true",
		"OCI_API_MANIFESTS_DIGEST_HEADER=true",
		"OCI_API_MANIFESTS_TAG_PARAM=true",
		"OCI_API_TAGS_ATOMIC=true",
		"OCI_API_TAGS_DELETE=true",
		"OCI_API_TAGS_LIST=true",
		"OCI_API_REFERRER=true",
		"OCI_DATA_IMAGE=true",
		"OCI_DATA_INDEX=true",
		"OCI_DATA_INDEX_LIST=true",
		"OCI_DATA_SPARSE=false",
		"OCI_DATA_ARTIFACT=true",
		"OCI_DATA_SUBJECT=true",
		"OCI_DATA_SUBJECT_MISSING=true",
		"OCI_DATA_ARTIFACT_LIST=true",
		"OCI_DATA_SUBJECT_LIST=true",
		"OCI_DATA_DATA_FIELD=true",
		"OCI_DATA_NONDISTRIBUTABLE=true",
		"OCI_DATA_CUSTOM_FIELDS=true",
		"OCI_DATA_NO_LAYERS=true",
		"OCI_DATA_EMPTY_BLOB=true",
		"OCI_DATA_SHA512=true",
	}
}
