package sarif

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWrite(t *testing.T) {
	run := Run{
		Tool:    Tool{Driver: Driver{Name: "t", InformationURI: "https://example.com", Rules: []Rule{}}},
		Results: []Result{{RuleID: "R1", Level: "note", Message: Text{Text: "m"}, Locations: []Location{At("a/b", 0)}}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, run); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["$schema"] != SchemaURI || got["version"] != "2.1.0" {
		t.Errorf("header = %v %v", got["$schema"], got["version"])
	}
	res := got["runs"].([]any)[0].(map[string]any)["results"].([]any)[0].(map[string]any)
	if _, ok := res["partialFingerprints"]; ok {
		t.Error("empty partialFingerprints written")
	}
	region := res["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)["region"].(map[string]any)
	if region["startLine"] != float64(1) {
		t.Errorf("startLine = %v, want line 0 clamped to 1", region["startLine"])
	}
}
