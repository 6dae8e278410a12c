// Command openapi3 converts the gateway's enriched Swagger 2.0 document to OpenAPI 3.0 with
// kin-openapi's openapi2conv, settles what the conversion leaves vague for client generators,
// validates the result and writes it. `make generate` runs it after enrich.
//
// Usage: openapi3 orgplane.swagger.json orgplane.openapi3.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: openapi3 IN.swagger.json OUT.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi3:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	doc, err := Convert(raw)
	if err != nil {
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}

// Convert returns the OpenAPI 3.0 form of a Swagger 2.0 document, indented and validated.
func Convert(swagger []byte) ([]byte, error) {
	var v2 openapi2.T
	if err := json.Unmarshal(swagger, &v2); err != nil {
		return nil, fmt.Errorf("read Swagger 2.0: %w", err)
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if err := settle(v3); err != nil {
		return nil, err
	}
	flat, err := json.Marshal(v3)
	if err != nil {
		return nil, err
	}
	// Validate what a client will read (refs resolved from the bytes), not the tree in memory.
	loader := openapi3.NewLoader()
	loaded, err := loader.LoadFromData(flat)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI 3 document: %w", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI 3 document is not valid: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, flat, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// settle fixes, in place, what generators read differently from what the gateway speaks.
func settle(doc *openapi3.T) error {
	// With no servers, OpenAPI 3 means "relative to the document", which is where the gateway
	// serves it; saying so keeps generators from guessing a host.
	if len(doc.Servers) == 0 {
		doc.Servers = openapi3.Servers{{URL: "/", Description: "The gateway serving this document."}}
	}
	var errs []error
	if err := pathParameterNames(doc); err != nil {
		errs = append(errs, err)
	}
	enums := componentEnums(doc)
	walk(doc, func(where string, s *openapi3.SchemaRef, inParameter bool) {
		if s.Ref != "" || s.Value == nil {
			return
		}
		if err := wideInteger(where, s.Value); err != nil {
			errs = append(errs, err)
		}
		if inParameter {
			sharedEnum(s, enums)
		}
	})
	for _, name := range sortedKeys(doc.Components.Schemas) {
		if s := doc.Components.Schemas[name].Value; s != nil && len(s.Enum) > 0 {
			enumNames(s)
		}
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if err := requestBody(method, path, op); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// pathParameterNames renames a path parameter that names a body field ({organization.id}, from
// an update's body: "organization") to the name its sibling routes use ({organizationId}). OpenAPI
// 3 holds /organizations/{organization.id} and /organizations/{organizationId} to be the same path
// and refuses both; the gateway matches the same URLs either way.
func pathParameterNames(doc *openapi3.T) error {
	for _, path := range sortedKeys(doc.Paths.Map()) {
		if !strings.Contains(path, ".") {
			continue
		}
		renamed := map[string]string{}
		newPath := path
		for _, seg := range strings.Split(path, "/") {
			if !strings.HasPrefix(seg, "{") || !strings.Contains(seg, ".") {
				continue
			}
			old := strings.Trim(seg, "{}")
			parts := strings.Split(old, ".")
			for i := 1; i < len(parts); i++ {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
			renamed[old] = strings.Join(parts, "")
			newPath = strings.Replace(newPath, seg, "{"+renamed[old]+"}", 1)
		}
		if len(renamed) == 0 {
			continue
		}
		item := doc.Paths.Value(path)
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInPath && renamed[p.Value.Name] != "" {
					p.Value.Name = renamed[p.Value.Name]
				}
			}
		}
		doc.Paths.Delete(path)
		target := doc.Paths.Value(newPath)
		if target == nil {
			doc.Paths.Set(newPath, item)
			continue
		}
		for method, op := range item.Operations() {
			if target.GetOperation(method) != nil {
				return fmt.Errorf("%s %s and %s %s are the same route", method, path, method, newPath)
			}
			target.SetOperation(method, op)
		}
	}
	return nil
}

// wideInteger describes a 64-bit integer as protojson writes it: a decimal string. A client
// that decoded it as a JSON number would fail, or lose precision above 2^53.
func wideInteger(where string, s *openapi3.Schema) error {
	var pattern string
	switch s.Format {
	case "int64":
		pattern = `^-?[0-9]+$`
	case "uint64":
		pattern = `^[0-9]+$`
	default:
		return nil
	}
	if !s.Type.Is("string") && !s.Type.Is("integer") {
		return fmt.Errorf("%s: format %s on type %v", where, s.Format, s.Type.Slice())
	}
	if s.Min != nil || s.Max != nil {
		// Numeric bounds mean nothing on a string; nothing declares them today, and a rule
		// that does should be carried over deliberately rather than dropped.
		return fmt.Errorf("%s: a 64-bit integer with numeric bounds has no string form yet", where)
	}
	s.Type = &openapi3.Types{"string"}
	if s.Pattern == "" {
		s.Pattern = pattern
	}
	return nil
}

// componentEnums indexes the named enums by their values.
func componentEnums(doc *openapi3.T) map[string]string {
	byValues := map[string]string{}
	for _, name := range sortedKeys(doc.Components.Schemas) {
		s := doc.Components.Schemas[name].Value
		if s == nil || len(s.Enum) == 0 {
			continue
		}
		byValues[enumKey(s.Enum)] = "#/components/schemas/" + name
	}
	return byValues
}

func enumKey(values []any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "\x00")
}

// sharedEnum points a query parameter's inline enum at the named enum with the same values,
// so a client has one type for a state whether it sends it in a filter or reads it in a body.
func sharedEnum(s *openapi3.SchemaRef, enums map[string]string) {
	if s.Value.Type.Is("array") && s.Value.Items != nil && s.Value.Items.Ref == "" && s.Value.Items.Value != nil {
		sharedEnum(s.Value.Items, enums)
		return
	}
	if len(s.Value.Enum) == 0 {
		return
	}
	if ref, ok := enums[enumKey(s.Value.Enum)]; ok {
		*s = openapi3.SchemaRef{Ref: ref}
	}
}

// enumNames gives each value of a proto enum a constant name without the type's prefix
// (ORGANIZATION_STATE_ACTIVE of OrganizationState is Active), read by oapi-codegen and
// openapi-generator alike, and spells its type as a string.
func enumNames(s *openapi3.Schema) {
	if s.Type == nil {
		s.Type = &openapi3.Types{"string"}
	}
	if !s.Type.Is("string") {
		return
	}
	values := make([]string, len(s.Enum))
	for i, v := range s.Enum {
		values[i], _ = v.(string)
	}
	prefix := commonPrefix(values)
	names := make([]any, len(values))
	for i, v := range values {
		names[i] = camel(strings.TrimPrefix(v, prefix))
	}
	if s.Extensions == nil {
		s.Extensions = map[string]any{}
	}
	s.Extensions["x-enum-varnames"] = names
}

// commonPrefix is the longest prefix ending in "_" that every value shares.
func commonPrefix(values []string) string {
	if len(values) < 2 {
		return ""
	}
	p := values[0]
	for _, v := range values[1:] {
		for !strings.HasPrefix(v, p) {
			p = p[:len(p)-1]
		}
	}
	i := strings.LastIndexByte(p, '_')
	if i < 0 {
		return ""
	}
	p = p[:i+1]
	for _, v := range values {
		// A value that is all prefix, or whose rest starts with a digit, would get no usable name.
		rest := strings.TrimPrefix(v, p)
		if rest == "" || (rest[0] >= '0' && rest[0] <= '9') {
			return ""
		}
	}
	return p
}

func camel(upperSnake string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(upperSnake), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// requestBody makes sure every body the gateway reads is declared as a required JSON body.
func requestBody(method, path string, op *openapi3.Operation) error {
	if op.RequestBody == nil {
		return nil
	}
	rb := op.RequestBody.Value
	if rb == nil {
		return nil
	}
	if rb.Content.Get("application/json") == nil {
		return fmt.Errorf("%s %s: the request body is not application/json", method, path)
	}
	rb.Required = true
	// openapi2conv keeps the 2.0 parameter's name ("body"), which means nothing in 3.0.
	delete(rb.Extensions, "x-originalParamName")
	if len(rb.Extensions) == 0 {
		rb.Extensions = nil
	}
	return nil
}

// walk calls visit for every schema reachable inline from the document: components, parameters,
// request and response bodies, and what those nest. A reference is visited as a reference; its
// target is visited where it is declared.
func walk(doc *openapi3.T, visit func(where string, s *openapi3.SchemaRef, inParameter bool)) {
	var schema func(where string, s *openapi3.SchemaRef, inParameter bool)
	schema = func(where string, s *openapi3.SchemaRef, inParameter bool) {
		if s == nil {
			return
		}
		visit(where, s, inParameter)
		if s.Ref != "" || s.Value == nil {
			return
		}
		v := s.Value
		for _, name := range sortedKeys(v.Properties) {
			schema(where+"."+name, v.Properties[name], false)
		}
		schema(where+"[]", v.Items, inParameter)
		if v.AdditionalProperties.Schema != nil {
			schema(where+"{}", v.AdditionalProperties.Schema, false)
		}
		for _, list := range []openapi3.SchemaRefs{v.AllOf, v.OneOf, v.AnyOf} {
			for i, s := range list {
				schema(fmt.Sprintf("%s/%d", where, i), s, false)
			}
		}
		schema(where+"!", v.Not, false)
	}
	content := func(where string, c openapi3.Content) {
		for _, mt := range sortedKeys(c) {
			schema(where+" "+mt, c[mt].Schema, false)
		}
	}
	for _, name := range sortedKeys(doc.Components.Schemas) {
		schema(name, doc.Components.Schemas[name], false)
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			where := method + " " + path
			for _, p := range op.Parameters {
				if p.Value != nil {
					schema(where+" "+p.Value.Name, p.Value.Schema, true)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(where+" body", op.RequestBody.Value.Content)
			}
			for code, r := range op.Responses.Map() {
				if r.Value != nil {
					content(where+" "+code, r.Value.Content)
				}
			}
		}
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return slices.Clip(keys)
}
