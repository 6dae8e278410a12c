// Command enrich adds the request rules declared with protovalidate to the OpenAPI document that
// protoc-gen-openapiv2 generated: lengths, patterns, formats, ranges, item limits and required
// fields become schema constraints, and rules with no schema form (CEL) are spelled out in the
// field's description. It also says how each operation is authenticated where the protos' rules
// decide it: public operations take no credential, a signed-in person's own operations take the
// session cookie (and X-CSRF-Token when they change something). `make generate` runs it after
// buf, so the document says what the API enforces.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/rpc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: enrich orgplane.swagger.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "enrich:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	messages := map[string]protoreflect.MessageDescriptor{}
	services := map[string]protoreflect.ServiceDescriptor{}
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := 0; i < f.Messages().Len(); i++ {
			m := f.Messages().Get(i)
			for _, name := range definitionNames(m) {
				messages[name] = m
			}
		}
		for i := 0; i < f.Services().Len(); i++ {
			services[string(f.Services().Get(i).Name())] = f.Services().Get(i)
		}
		return true
	})

	defs, _ := doc["definitions"].(map[string]any)
	for name, d := range defs {
		def := d.(map[string]any)
		m, ok := messages[name]
		if !ok {
			m = bodyMessage(name, services)
		}
		if m != nil {
			enrichSchema(def, m)
		}
	}
	if info, ok := doc["info"].(map[string]any); ok {
		appendDescription(info, sessionNote)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range paths {
		for verb, o := range p.(map[string]any) {
			op := o.(map[string]any)
			if md := operationMethod(op, services); md != nil {
				authentication(op, verb, md)
			}
			m := operationInput(op, services)
			if m == nil {
				continue
			}
			params, _ := op["parameters"].([]any)
			for _, pa := range params {
				param := pa.(map[string]any)
				if param["in"] == "body" {
					continue
				}
				if f := fieldByJSONPath(m, param["name"].(string)); f != nil {
					applyRules(param, f, true)
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// definitionNames are the names protoc-gen-openapiv2 gives a message: "v1Organization", or the
// fully spelled "orgplaneBillingV1LicenseUsage" when short names collide.
func definitionNames(m protoreflect.MessageDescriptor) []string {
	parts := strings.Split(string(m.ParentFile().Package()), ".")
	short := parts[len(parts)-1] + string(m.Name())
	var long strings.Builder
	for i, p := range parts {
		if i > 0 {
			p = strings.ToUpper(p[:1]) + p[1:]
		}
		long.WriteString(p)
	}
	return []string{short, long.String() + string(m.Name())}
}

// bodyMessage finds the request message behind a "<Service><Method>Body" definition.
func bodyMessage(def string, services map[string]protoreflect.ServiceDescriptor) protoreflect.MessageDescriptor {
	if !strings.HasSuffix(def, "Body") {
		return nil
	}
	for name, s := range services {
		if !strings.HasPrefix(def, name) {
			continue
		}
		if m := s.Methods().ByName(protoreflect.Name(strings.TrimSuffix(strings.TrimPrefix(def, name), "Body"))); m != nil {
			return m.Input()
		}
	}
	return nil
}

// operationInput finds the request message of an operation from its operationId
// ("OrganizationService_ListOrganizations").
func operationInput(op map[string]any, services map[string]protoreflect.ServiceDescriptor) protoreflect.MessageDescriptor {
	if m := operationMethod(op, services); m != nil {
		return m.Input()
	}
	return nil
}

// operationMethod finds the RPC of an operation from its operationId.
func operationMethod(op map[string]any, services map[string]protoreflect.ServiceDescriptor) protoreflect.MethodDescriptor {
	id, _ := op["operationId"].(string)
	svc, method, ok := strings.Cut(id, "_")
	if !ok || services[svc] == nil {
		return nil
	}
	return services[svc].Methods().ByName(protoreflect.Name(method))
}

// sessionNote tells every reader of the document how a person's browser calls the API. Swagger
// 2.0 has no cookie security scheme, so it is said in words.
const sessionNote = "People sign in with POST /v1/signIn: the gateway answers with an HttpOnly session cookie " +
	"(__Host-orgplane_session; orgplane_session on a gateway serving plain HTTP) that authenticates every route an API key can, " +
	"and with currentUser.csrfToken (also in GET /v1/me), which every cookie request other than GET, HEAD and OPTIONS " +
	"must send in the X-CSRF-Token header. Requests with a bearer credential need no CSRF token."

// authentication writes how an operation is authenticated, from its RPC's rule: a public one
// takes no credential at all; a signed-in person's own (their sessions, their password) takes the
// session cookie only, and X-CSRF-Token unless it reads.
func authentication(op map[string]any, verb string, md protoreflect.MethodDescriptor) {
	rule, _ := proto.GetExtension(md.Options(), authzv1.E_Rule).(*authzv1.Rule)
	switch {
	case rpc.PublicMethod(md):
		op["security"] = []any{}
		appendDescription(op, "Public: takes no credential (one sent is ignored).")
	case rule.GetCaller() == authzv1.Caller_CALLER_SIGNED_IN_USER:
		appendDescription(op, "For a person signed in with the session cookie: an API key or the operator credential gets 403.")
		if verb == "get" {
			return
		}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			if p.(map[string]any)["name"] == "X-CSRF-Token" {
				return
			}
		}
		op["parameters"] = append(params, map[string]any{
			"name": "X-CSRF-Token", "in": "header", "required": true, "type": "string",
			"description": "The session's csrfToken (from POST /v1/signIn or GET /v1/me).",
		})
	}
}

func appendDescription(m map[string]any, note string) {
	desc, _ := m["description"].(string)
	if strings.Contains(desc, note) {
		return
	}
	m["description"] = strings.TrimSpace(desc + "\n\n" + note)
}

func fieldByJSONPath(m protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	parts := strings.Split(path, ".")
	var f protoreflect.FieldDescriptor
	for i, p := range parts {
		f = m.Fields().ByJSONName(p)
		if f == nil {
			return nil
		}
		if i < len(parts)-1 {
			if f.Message() == nil {
				return nil
			}
			m = f.Message()
		}
	}
	return f
}

func enrichSchema(def map[string]any, m protoreflect.MessageDescriptor) {
	props, _ := def["properties"].(map[string]any)
	var required []string
	if r, ok := def["required"].([]any); ok {
		for _, v := range r {
			required = append(required, v.(string))
		}
	}
	for name, p := range props {
		f := m.Fields().ByJSONName(name)
		if f == nil {
			continue
		}
		if applyRules(p.(map[string]any), f, false) && !contains(required, name) {
			required = append(required, name)
		}
	}
	if len(required) > 0 {
		sort.Strings(required)
		out := make([]any, len(required))
		for i, r := range required {
			out[i] = r
		}
		def["required"] = out
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// applyRules writes f's protovalidate rules into schema (a property or a parameter) and reports
// whether the field is required.
func applyRules(schema map[string]any, f protoreflect.FieldDescriptor, param bool) bool {
	rules, ok := proto.GetExtension(f.Options(), validate.E_Field).(*validate.FieldRules)
	if !ok || rules == nil {
		return false
	}
	target := schema
	if items, ok := schema["items"].(map[string]any); ok && f.IsList() && !param {
		target = items
	}
	var notes []string
	if s := rules.GetString(); s != nil {
		if s.HasMinLen() {
			target["minLength"] = s.GetMinLen()
		}
		if s.HasMaxLen() {
			target["maxLength"] = s.GetMaxLen()
		}
		if s.HasPattern() {
			target["pattern"] = s.GetPattern()
		}
		// A field that may be left empty is sent back empty too (responses carry every field),
		// so its format is described rather than declared: a typed client must accept "".
		optional := rules.GetIgnore() == validate.Ignore_IGNORE_IF_ZERO_VALUE
		switch {
		case s.GetUuid() && optional:
			notes = append(notes, "Empty, or a UUID.")
		case s.GetUuid():
			target["format"] = "uuid"
		case s.GetEmail() && optional:
			notes = append(notes, "Empty, or an email address.")
		case s.GetEmail():
			target["format"] = "email"
		}
	}
	if b := rules.GetBytes(); b != nil && b.HasMaxLen() {
		notes = append(notes, fmt.Sprintf("At most %d bytes before base64 encoding.", b.GetMaxLen()))
	}
	if n := rules.GetInt32(); n != nil {
		if n.HasGte() {
			target["minimum"] = n.GetGte()
		}
		if n.HasLte() {
			target["maximum"] = n.GetLte()
		}
	}
	if r := rules.GetRepeated(); r != nil {
		if r.HasMaxItems() {
			schema["maxItems"] = r.GetMaxItems()
		}
		if r.GetUnique() {
			schema["uniqueItems"] = true
		}
		if it := r.GetItems().GetString(); it != nil && it.GetUuid() {
			if items, ok := schema["items"].(map[string]any); ok {
				items["format"] = "uuid"
			}
		}
	}
	for _, c := range rules.GetCel() {
		notes = append(notes, "Rule: "+c.GetMessage()+".")
	}
	if len(notes) > 0 {
		desc, _ := schema["description"].(string)
		schema["description"] = strings.TrimSpace(desc + " " + strings.Join(notes, " "))
	}
	return rules.GetRequired()
}
