package suppress

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/report"
)

// VEX statuses that suppress a finding; "affected" and
// "under_investigation" leave it in place.
const (
	StatusNotAffected = "not_affected"
	StatusFixed       = "fixed"
)

// VEX is a parsed OpenVEX document (https://github.com/openvex/spec).
type VEX struct {
	Statements []Statement
}

// Statement is one OpenVEX statement.
type Statement struct {
	// Vulnerability holds the name and aliases of the vulnerability.
	Vulnerability []string
	// Products are product ids (purls, image references) with their
	// subcomponent ids; empty subcomponents mean the whole product.
	Products      []Product
	Status        string
	Justification string
	Impact        string
}

// Product is one product of a statement.
type Product struct {
	ID            string
	Subcomponents []string
}

type wireVEX struct {
	Context    string          `json:"@context"`
	Statements []wireStatement `json:"statements"`
}

type wireStatement struct {
	Vulnerability json.RawMessage `json:"vulnerability"`
	Products      []wireProduct   `json:"products"`
	Status        string          `json:"status"`
	Justification string          `json:"justification"`
	Impact        string          `json:"impact_statement"`
}

// wireProduct is an object in v0.2 and a plain string in v0.0.1.
type wireProduct struct {
	ID            string
	Subcomponents []string
}

func (p *wireProduct) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		p.ID = s
		return nil
	}
	var o struct {
		ID            string `json:"@id"`
		Subcomponents []struct {
			ID string `json:"@id"`
		} `json:"subcomponents"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	p.ID = o.ID
	for _, s := range o.Subcomponents {
		if s.ID != "" {
			p.Subcomponents = append(p.Subcomponents, s.ID)
		}
	}
	return nil
}

// ParseVEX reads an OpenVEX JSON document.
func ParseVEX(r io.Reader) (*VEX, error) {
	var w wireVEX
	dec := json.NewDecoder(io.LimitReader(r, maxDocument))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: OpenVEX: %w", ErrInvalid, err)
	}
	if !strings.Contains(w.Context, "openvex") {
		return nil, fmt.Errorf("%w: OpenVEX: @context %q is not an OpenVEX context", ErrInvalid, w.Context)
	}
	v := &VEX{}
	for i, ws := range w.Statements {
		s := Statement{Status: ws.Status, Justification: ws.Justification, Impact: ws.Impact}
		switch ws.Status {
		case StatusNotAffected, StatusFixed, "affected", "under_investigation":
		default:
			return nil, fmt.Errorf("%w: OpenVEX statement %d: unknown status %q", ErrInvalid, i+1, ws.Status)
		}
		var name string
		if json.Unmarshal(ws.Vulnerability, &name) == nil {
			s.Vulnerability = []string{name}
		} else {
			var o struct {
				Name    string   `json:"name"`
				ID      string   `json:"@id"`
				Aliases []string `json:"aliases"`
			}
			if err := json.Unmarshal(ws.Vulnerability, &o); err != nil {
				return nil, fmt.Errorf("%w: OpenVEX statement %d: vulnerability: %w", ErrInvalid, i+1, err)
			}
			for _, x := range append([]string{o.Name, o.ID}, o.Aliases...) {
				if x != "" {
					s.Vulnerability = append(s.Vulnerability, x)
				}
			}
		}
		if len(s.Vulnerability) == 0 || s.Vulnerability[0] == "" {
			return nil, fmt.Errorf("%w: OpenVEX statement %d: no vulnerability", ErrInvalid, i+1)
		}
		for _, p := range ws.Products {
			s.Products = append(s.Products, Product(p))
		}
		v.Statements = append(v.Statements, s)
	}
	return v, nil
}

// applies reports whether the statement covers finding f of an image.
func (s *Statement) applies(f *report.Finding, image string) bool {
	hit := false
	for _, id := range s.Vulnerability {
		if f.HasID(id) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	if len(s.Products) == 0 {
		return true
	}
	for _, p := range s.Products {
		if len(p.Subcomponents) == 0 {
			if purlCovers(p.ID, f.Package.PURL) || (image != "" && strings.Contains(p.ID, image)) {
				return true
			}
			continue
		}
		if !(image == "" || strings.Contains(p.ID, image) || !strings.Contains(p.ID, "sha256:")) {
			continue // a statement about another image
		}
		for _, sc := range p.Subcomponents {
			if purlCovers(sc, f.Package.PURL) {
				return true
			}
		}
	}
	return false
}

// purlCovers reports whether the purl of a statement names the package:
// same type, namespace and name, and the same version when it gives one.
func purlCovers(stmt, pkg string) bool {
	if stmt == "" || pkg == "" {
		return false
	}
	if stmt == pkg {
		return true
	}
	a, err1 := packageurl.FromString(stmt)
	b, err2 := packageurl.FromString(pkg)
	if err1 != nil || err2 != nil {
		return false
	}
	return a.Type == b.Type && a.Namespace == b.Namespace && a.Name == b.Name &&
		(a.Version == "" || a.Version == b.Version)
}
