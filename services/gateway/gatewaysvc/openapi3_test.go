package gatewaysvc_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// openAPIDoc is what both documents share, and what OpenAPI 3 says differently.
type openAPIDoc struct {
	Swagger string `json:"swagger"`
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			In string `json:"in"`
		} `json:"parameters"`
		RequestBody *struct {
			Required bool                       `json:"required"`
			Content  map[string]json.RawMessage `json:"content"`
		} `json:"requestBody"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func fetchDoc(t *testing.T, g http.Handler, path string) (openAPIDoc, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	g.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s without a credential = %d %q", path, w.Code, w.Header().Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc, w.Body.Bytes()
}

// The OpenAPI 3 document is the Swagger 2.0 one converted: the same operations at the same URLs,
// bodies as required JSON request bodies, 64-bit integers as the strings protojson writes, and
// enums with their values and constant names.
func TestOpenAPI3DocumentServesTheSameAPI(t *testing.T) {
	g, err := gatewayWithOrigins(t)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := fetchDoc(t, g, "/openapi.json")
	v3, raw := fetchDoc(t, g, "/openapi3.json")
	if v2.Swagger != "2.0" || !strings.HasPrefix(v3.OpenAPI, "3.0.") {
		t.Fatalf("versions: swagger %q, openapi %q", v2.Swagger, v3.OpenAPI)
	}

	// A route is its method and its URL shape; parameter names may differ ({organization.id}).
	param := regexp.MustCompile(`\{[^}]+\}`)
	withBody := func(d openAPIDoc) map[string]bool {
		ops := map[string]bool{}
		for path, methods := range d.Paths {
			for method, op := range methods {
				body := op.RequestBody != nil
				for _, p := range op.Parameters {
					body = body || p.In == "body"
				}
				ops[op.OperationID+" "+strings.ToUpper(method)+" "+param.ReplaceAllString(path, "{}")] = body
			}
		}
		return ops
	}
	want, got := withBody(v2), withBody(v3)
	if len(want) < 30 {
		t.Fatalf("only %d operations in the 2.0 document", len(want))
	}
	for op, body := range want {
		gotBody, ok := got[op]
		switch {
		case !ok:
			t.Errorf("%s: missing from the OpenAPI 3 document", op)
		case gotBody != body:
			t.Errorf("%s: request body %v in 2.0, %v in 3.0", op, body, gotBody)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d operations in 3.0, %d in 2.0", len(got), len(want))
	}
	for path, methods := range v3.Paths {
		for method, op := range methods {
			if rb := op.RequestBody; rb != nil && (!rb.Required || rb.Content["application/json"] == nil) {
				t.Errorf("%s %s: request body required=%v, content %v", method, path, rb.Required, rb.Content)
			}
		}
	}

	// Every schema anywhere, to find the 64-bit integers wherever they are nested.
	var all any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	wide := 0
	var visit func(any)
	visit = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if f := v["format"]; f == "int64" || f == "uint64" {
				wide++
				if v["type"] != "string" || v["pattern"] == nil {
					t.Errorf("a %s is not described as a decimal string: %v", f, v)
				}
			}
			for _, e := range v {
				visit(e)
			}
		case []any:
			for _, e := range v {
				visit(e)
			}
		}
	}
	visit(all)
	if wide == 0 {
		t.Error("no 64-bit integer in the document (totalSize is one)")
	}

	enums := 0
	for name, raw := range v3.Components.Schemas {
		var s struct {
			Type     string   `json:"type"`
			Enum     []string `json:"enum"`
			VarNames []string `json:"x-enum-varnames"`
		}
		if err := json.Unmarshal(raw, &s); err != nil || len(s.Enum) == 0 {
			continue
		}
		enums++
		if s.Type != "string" || len(s.VarNames) != len(s.Enum) {
			t.Errorf("enum %s: type %q, %d values, %d names", name, s.Type, len(s.Enum), len(s.VarNames))
		}
	}
	if enums < 10 {
		t.Errorf("only %d enums in the components", enums)
	}
}
