package gatewaysvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/orgplane/orgplane/pkg/fieldmask"
)

// The gateway decodes bodies, query parameters and paths itself before any service sees the
// request; the libraries it uses explain a refusal in their own words ("strconv.ParseInt: parsing
// \"abc\": invalid syntax", "proto: (line 1:9): invalid value for string field name: 123"),
// which name Go packages and proto names a REST client never sees. This file says the same in
// the API's words: the field as the client spells it and the type it expects.

// inputError is a request the gateway could not decode; its message is already in the API's
// words, so the error handler passes it through as InvalidArgument naming the field.
type inputError struct{ field, problem string }

func (e *inputError) Error() string { return e.field + ": " + e.problem }

func (e *inputError) status() *status.Status {
	s, _ := status.New(codes.InvalidArgument, e.Error()).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.field, Description: e.problem, Reason: "MALFORMED_INPUT"}},
	})
	return s
}

// restMarshaler decodes request bodies with the API's own error messages.
type restMarshaler struct{ runtime.Marshaler }

func (m restMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF // an empty body: the handlers treat it as "no fields"
		}
		if err := m.Unmarshal(data, v); err != nil {
			return explainBody(data, targetMessage(v))
		}
		return nil
	})
}

// targetMessage is the message a body fills: the generated handlers pass the request itself
// (body "*") or the address of one of its message fields (body "organization").
func targetMessage(v any) proto.Message {
	if m, ok := v.(proto.Message); ok {
		return m
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Pointer {
		if m, ok := reflect.New(rv.Elem().Type().Elem()).Interface().(proto.Message); ok {
			return m
		}
	}
	return nil
}

// explainBody finds what is wrong with a body protojson refused.
func explainBody(data []byte, msg proto.Message) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			if strings.Contains(syn.Error(), "max depth") {
				return &inputError{"body", "is nested too deeply"}
			}
			return &inputError{"body", "is not valid JSON (at byte " + strconv.FormatInt(syn.Offset, 10) + ")"}
		}
		return &inputError{"body", "is not valid JSON (it ends early)"}
	}
	if dec.More() {
		return &inputError{"body", "holds more than one JSON value"}
	}
	if msg == nil {
		return &inputError{"body", "is not a valid request"}
	}
	if e := explainMessage(doc, msg.ProtoReflect().Descriptor(), ""); e != nil {
		return e
	}
	return &inputError{"body", "is not a valid request"}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// explainMessage walks a decoded JSON value beside the message it should fill and reports the
// first field that cannot hold it.
func explainMessage(v any, md protoreflect.MessageDescriptor, path string) *inputError {
	field := path
	if field == "" {
		field = "body"
	}
	if wk := wellKnown(md); wk != "" {
		if _, ok := v.(string); !ok && v != nil {
			return &inputError{field, "must be " + wk}
		}
		return nil // protojson refused its format: say what is expected
	}
	obj, ok := v.(map[string]any)
	if !ok {
		if v == nil && path != "" {
			return nil
		}
		return &inputError{field, "must be a JSON object"}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByTextName(k)
		}
		if fd == nil {
			return &inputError{join(path, k), "is not a field of this request"}
		}
		p := join(path, fd.JSONName())
		val := obj[k]
		if val == nil {
			continue
		}
		switch {
		case fd.IsList():
			arr, ok := val.([]any)
			if !ok {
				return &inputError{p, "must be a JSON array"}
			}
			for i, item := range arr {
				if e := explainValue(item, fd, p+"["+strconv.Itoa(i)+"]"); e != nil {
					return e
				}
			}
		case fd.IsMap():
			m, ok := val.(map[string]any)
			if !ok {
				return &inputError{p, "must be a JSON object"}
			}
			for mk, item := range m {
				if e := explainValue(item, fd.MapValue(), p+"["+strconv.Quote(mk)+"]"); e != nil {
					return e
				}
			}
		default:
			if e := explainValue(val, fd, p); e != nil {
				return e
			}
		}
	}
	return nil
}

func wellKnown(md protoreflect.MessageDescriptor) string {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return "a timestamp string such as \"2026-01-31T09:00:00Z\""
	case "google.protobuf.Duration":
		return "a duration string such as \"1.5s\""
	case "google.protobuf.FieldMask":
		return "a string of comma-separated field names"
	case "google.type.Date":
		return ""
	}
	return ""
}

var integerText = regexp.MustCompile(`^-?[0-9]+$`)

func explainValue(v any, fd protoreflect.FieldDescriptor, path string) *inputError {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			return &inputError{path, "must be a string"}
		}
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return &inputError{path, "must be a base64 string"}
		}
		_ = s
		return nil
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			return &inputError{path, "must be true or false"}
		}
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok {
			return &inputError{path, "must be one of " + enumNames(fd.Enum())}
		}
		if fd.Enum().Values().ByName(protoreflect.Name(s)) == nil {
			return &inputError{path, "must be one of " + enumNames(fd.Enum())}
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return explainInteger(v, fd, path)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if _, ok := v.(json.Number); !ok {
			return &inputError{path, "must be a number"}
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return explainMessage(v, fd.Message(), path)
	}
	return nil
}

func explainInteger(v any, fd protoreflect.FieldDescriptor, path string) *inputError {
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = t
	default:
		return &inputError{path, "must be an integer"}
	}
	bits := 64
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits = 32
	}
	unsigned := fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Fixed32Kind ||
		fd.Kind() == protoreflect.Uint64Kind || fd.Kind() == protoreflect.Fixed64Kind
	if !integerText.MatchString(text) {
		return &inputError{path, "must be an integer"}
	}
	var err error
	if unsigned {
		_, err = strconv.ParseUint(text, 10, bits)
	} else {
		_, err = strconv.ParseInt(text, 10, bits)
	}
	if err != nil {
		return &inputError{path, "must be an integer between " + intRange(bits, unsigned)}
	}
	return nil
}

func intRange(bits int, unsigned bool) string {
	switch {
	case unsigned && bits == 32:
		return "0 and 4294967295"
	case unsigned:
		return "0 and 18446744073709551615"
	case bits == 32:
		return "-2147483648 and 2147483647"
	}
	return "-9223372036854775808 and 9223372036854775807"
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		if v := ed.Values().Get(i); v.Number() != 0 {
			names = append(names, string(v.Name()))
		}
	}
	return strings.Join(names, ", ")
}

// restQueryParser parses query parameters like grpc-gateway's, and explains a refusal by
// trying each parameter alone beside the field it fills.
type restQueryParser struct{ runtime.DefaultQueryParser }

func (p *restQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	err := p.DefaultQueryParser.Parse(msg, values, filter)
	if err == nil {
		return nil
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		probe := msg.ProtoReflect().New().Interface()
		if p.DefaultQueryParser.Parse(probe, url.Values{k: values[k]}, filter) == nil {
			continue
		}
		return explainQuery(msg.ProtoReflect().Descriptor(), k, values[k])
	}
	return &inputError{"query", "is not a valid query string"}
}

func explainQuery(md protoreflect.MessageDescriptor, key string, vals []string) error {
	var fd protoreflect.FieldDescriptor
	path := ""
	for _, part := range strings.Split(key, ".") {
		if md == nil {
			return &inputError{key, "is not a parameter of this request"}
		}
		fd = md.Fields().ByJSONName(part)
		if fd == nil {
			fd = md.Fields().ByTextName(part)
		}
		if fd == nil {
			return &inputError{key, "is not a parameter of this request"}
		}
		path = join(path, fd.JSONName())
		md = fd.Message()
	}
	if len(vals) > 1 && !fd.IsList() {
		return &inputError{path, "is given more than once"}
	}
	for _, v := range vals {
		var jv any = v
		switch fd.Kind() {
		case protoreflect.BoolKind:
			if v != "true" && v != "false" {
				return &inputError{path, "must be true or false"}
			}
			continue
		case protoreflect.FloatKind, protoreflect.DoubleKind:
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return &inputError{path, "must be a number"}
			}
			continue
		case protoreflect.MessageKind:
			if wk := wellKnown(fd.Message()); wk != "" {
				return &inputError{path, "must be " + wk}
			}
		}
		if e := explainValue(jv, fd, path); e != nil {
			return e
		}
	}
	return &inputError{path, "has a value this request cannot take"}
}

// restErrorHandler renders every error in the google.rpc.Status shape, replacing what a library
// said about a request it could not decode with the API's words.
func restErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if flowFailedInBrowser(w, r, err) {
		return
	}
	var ie *inputError
	if errors.As(err, &ie) {
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, ie.status().Err())
		return
	}
	s, ok := status.FromError(err)
	if ok && s.Code() == codes.ResourceExhausted {
		// A service's throttling (org's failed sign-ins) says how long to wait in RetryInfo;
		// HTTP clients read Retry-After, as from the gateway's own limits.
		for _, d := range s.Details() {
			if ri, isRetry := d.(*errdetails.RetryInfo); isRetry {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())))))
			}
		}
	}
	if ok && s.Code() == codes.InvalidArgument && len(s.Details()) == 0 && !libraryText(s.Message()) {
		// The generated handlers flatten a decoding error to its text ("%v"), so an inputError
		// arrives as "field: problem" without details; a service's refusal naming a field
		// always carries a google.rpc.BadRequest.
		if fm := flattenedInput.FindStringSubmatch(s.Message()); fm != nil {
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, (&inputError{fm[1], fm[2]}).status().Err())
			return
		}
	}
	if ok && s.Code() == codes.InvalidArgument && len(s.Details()) == 0 && libraryText(s.Message()) {
		// Decoding errors of path parameters reach here flattened to text by the generated
		// handlers ("type mismatch, parameter: account_id, error: ...").
		field := "request"
		if pm := pathParameter.FindStringSubmatch(s.Message()); pm != nil {
			field = fieldmask.CamelCase(pm[1])
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, (&inputError{field, "could not be read: check it against the API document"}).status().Err())
		return
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// flattenedInput is an inputError's text: a field path as a client spells it, then the problem.
var flattenedInput = regexp.MustCompile(`^(body|[a-z][A-Za-z0-9]*(?:\[[^\]]*\])?(?:\.[a-z][A-Za-z0-9]*(?:\[[^\]]*\])?)*): (.+)$`)

var pathParameter = regexp.MustCompile(`parameter: ([A-Za-z0-9_.]+)`)

// libraryPhrases lists the phrases by which a Go library's own message is recognised; none may
// reach a client.
var libraryPhrases = []string{"strconv.", "proto:", "json:", "invalid character", "unexpected EOF",
	"parsing field", "type mismatch", "syntax error", "cannot unmarshal", "invalid syntax", "exceeded max depth",
	"value out of range", "protojson", "illegal base64", "runtime error", "goroutine"}

func libraryText(msg string) bool {
	return slices.ContainsFunc(libraryPhrases, func(p string) bool { return strings.Contains(msg, p) })
}

// routes knows every path template of the API and its methods, from the published document,
// so a wrong method gets 405 with Allow and an unknown path a 404 in the error shape.
type routes struct {
	templates []routeTemplate
	// streamed are the templates with a streaming method.
	streamed []routeTemplate
}

type routeTemplate struct {
	segs    []string
	verb    string
	methods []string
	// streams are the methods whose answer is a server stream (newline-delimited JSON).
	streams []string
}

func newRoutes(doc []byte) (*routes, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	rt := &routes{}
	for path, ops := range d.Paths {
		t := routeTemplate{}
		segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
		last := segs[len(segs)-1]
		if i := strings.LastIndex(last, ":"); i >= 0 && !strings.Contains(last[i:], "}") {
			segs[len(segs)-1], t.verb = last[:i], last[i+1:]
		}
		t.segs = segs
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			t.methods = append(t.methods, strings.ToUpper(m))
			var o struct {
				Responses map[string]struct {
					Schema struct {
						Title string `json:"title"`
					} `json:"schema"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, path, err)
			}
			// protoc-gen-openapiv2 describes a server stream's answer as "Stream result of T".
			if strings.HasPrefix(o.Responses["200"].Schema.Title, "Stream result of") {
				t.streams = append(t.streams, strings.ToUpper(m))
			}
		}
		rt.templates = append(rt.templates, t)
		if len(t.streams) > 0 {
			rt.streamed = append(rt.streamed, t)
		}
	}
	return rt, nil
}

// allowed lists the methods of path, or none when no route has that path.
func (rt *routes) allowed(path string) []string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var out []string
	for _, t := range rt.templates {
		if t.fits(segs) {
			out = append(out, t.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// streaming reports whether method on path is a server stream. Every request asks, so only
// the few templates with a stream are looked at.
func (rt *routes) streaming(method, path string) bool {
	if len(rt.streamed) == 0 {
		return false
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, t := range rt.streamed {
		if slices.Contains(t.streams, method) && t.fits(segs) {
			return true
		}
	}
	return false
}

// fits reports whether a path (split at its slashes) has the template's shape.
func (t routeTemplate) fits(segs []string) bool {
	if len(t.segs) != len(segs) {
		return false
	}
	last := segs[len(segs)-1]
	if t.verb != "" {
		name, verb, ok := strings.Cut(last, ":")
		if !ok || verb != t.verb {
			return false
		}
		last = name
	} else if strings.Contains(last, ":") {
		return false // a custom method this template does not have
	}
	for i, ts := range t.segs {
		s := segs[i]
		if i == len(segs)-1 {
			s = last
		}
		if strings.HasPrefix(ts, "{") {
			if s == "" {
				return false
			}
		} else if ts != s {
			return false
		}
	}
	return true
}

func (rt *routes) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		if allow := rt.allowed(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeStatusCode(w, status.New(codes.Unimplemented, r.Method+" is not allowed on this path; allowed: "+strings.Join(allow, ", ")), http.StatusMethodNotAllowed)
			return
		}
		fallthrough
	case http.StatusNotFound:
		writeStatus(w, status.New(codes.NotFound, "no such path in this API; see /openapi.json"))
	default:
		writeStatus(w, status.New(codes.InvalidArgument, "the path is malformed"))
	}
}
