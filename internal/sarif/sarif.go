// Package sarif holds the part of SARIF 2.1.0 (the Static Analysis Results
// Interchange Format, OASIS) that moat writes: one run of one tool, its
// rules, and results located at a file and line. It is the subset GitHub
// code scanning reads. The scan report and the Dockerfile linter both
// write it; what goes into the rules and results is theirs.
//
// Limits: only the fields moat fills are declared; the package writes
// SARIF and does not read it.
package sarif

import (
	"encoding/json"
	"io"
)

// SchemaURI and Version name the SARIF version the log declares.
const (
	SchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"
	Version   = "2.1.0"
)

// Log is a SARIF log file.
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

// Run is one run of one tool.
type Run struct {
	Tool    Tool     `json:"tool"`
	Results []Result `json:"results"`
}

// Tool describes the analysis tool of a run.
type Tool struct {
	Driver Driver `json:"driver"`
}

// Driver is the tool's main component and its rules.
type Driver struct {
	Name           string `json:"name"`
	InformationURI string `json:"informationUri"`
	Version        string `json:"version,omitempty"`
	Rules          []Rule `json:"rules"`
}

// Rule is a reportingDescriptor: what a result's ruleId refers to.
type Rule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription Text           `json:"shortDescription"`
	FullDescription  Text           `json:"fullDescription"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Help             Help           `json:"help"`
	Properties       map[string]any `json:"properties"`
	DefaultConfig    Config         `json:"defaultConfiguration"`
}

// Config is a rule's default reportingConfiguration.
type Config struct {
	Level string `json:"level"`
}

// Text is a plain-text message.
type Text struct {
	Text string `json:"text"`
}

// Help is a message in plain text and Markdown.
type Help struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

// Result is one finding of a rule.
type Result struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             Text              `json:"message"`
	Locations           []Location        `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
}

// Location is where a result was found.
type Location struct {
	PhysicalLocation PhysicalLocation `json:"physicalLocation"`
}

// PhysicalLocation is a region of an artifact.
type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
	Region           Region           `json:"region"`
}

// ArtifactLocation names a file by a relative, slash-separated URI.
type ArtifactLocation struct {
	URI string `json:"uri"`
}

// Region is a line of an artifact, counted from 1.
type Region struct {
	StartLine int `json:"startLine"`
}

// At is the location of line (at least 1) of the artifact at uri.
func At(uri string, line int) Location {
	return Location{PhysicalLocation: PhysicalLocation{ArtifactLocation: ArtifactLocation{URI: uri}, Region: Region{StartLine: max(line, 1)}}}
}

// Write writes run as an indented SARIF 2.1.0 log.
func Write(w io.Writer, run Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Log{Schema: SchemaURI, Version: Version, Runs: []Run{run}})
}
