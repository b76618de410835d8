package webhooks

import (
	"encoding/json"
	"fmt"
	"time"
)

// ContentType is the media type of a CloudEvents 1.0 structured-mode
// JSON body.
const ContentType = "application/cloudevents+json"

// cloudEvent is a CloudEvents 1.0 event in the JSON format
// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md):
// the required attributes id, source, specversion and type, the optional
// subject and time, and data as a JSON value. It is written by hand
// rather than with the CloudEvents SDK: moat only produces this one
// shape, and the SDK would bring its protocol bindings along.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// render returns the structured-mode body of an event.
func render(id, source, typ, subject string, at time.Time, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(cloudEvent{
		SpecVersion: "1.0", ID: id, Source: source, Type: typ, Subject: subject,
		Time: at.UTC().Format(time.RFC3339Nano), DataContentType: "application/json", Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: render %s event %s: %w", typ, id, err)
	}
	return b, nil
}
