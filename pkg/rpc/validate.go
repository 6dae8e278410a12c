package rpc

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/pkg/text"
)

// multilineFields are the free-text fields where a person may break lines (by proto name):
// everywhere else a newline or a tab is a control character like any other.
var multilineFields = map[protoreflect.Name]bool{"notes": true, "description": true}

// requestShape is what the validator needs to know about a method to name fields as REST
// clients spell them: the request field the HTTP body fills ("" when none, "*" for all).
type requestShape struct{ body string }

// shapes caches each method's shape; descriptors never change while the process runs.
type shapes struct{ m sync.Map }

func (s *shapes) of(fullMethod string) requestShape {
	if v, ok := s.m.Load(fullMethod); ok {
		return v.(requestShape)
	}
	var shape requestShape
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(fullMethod, "/"), "/", "."))
	if d, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err == nil {
		if md, ok := d.(protoreflect.MethodDescriptor); ok {
			if rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule); ok && rule != nil {
				shape.body = rule.GetBody()
			}
		}
	}
	s.m.Store(fullMethod, shape)
	return shape
}

// restPath turns a path of JSON names into what a REST client sent: the fields of the message
// the HTTP body fills are top-level keys of the body ("organization.parentId" is "parentId" in
// the body of an update), and bulk items keep their index ("organizations[3].name").
func (sh requestShape) restPath(md protoreflect.MessageDescriptor, path string) string {
	if sh.body == "" || sh.body == "*" {
		return path
	}
	f := md.Fields().ByName(protoreflect.Name(sh.body))
	if f == nil {
		return path
	}
	if rest, ok := strings.CutPrefix(path, f.JSONName()+"."); ok {
		return rest
	}
	return path
}

// cleanText runs every string of m, however deeply nested, through the one text validator and
// stores the cleaned (NFC, trimmed) value in place, so rules, stores and events all see the
// same text. It returns a violation per refused string, named by its JSON path.
func cleanText(m protoreflect.Message, prefix string, out []*errdetails.BadRequest_FieldViolation) []*errdetails.BadRequest_FieldViolation {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := fd.JSONName()
		if prefix != "" {
			path = prefix + "." + path
		}
		multiline := multilineFields[fd.Name()]
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				item := path + "[" + strconv.Itoa(i) + "]"
				switch fd.Kind() {
				case protoreflect.StringKind:
					s, bad := cleanOne(l.Get(i).String(), multiline, item)
					if bad != nil {
						out = append(out, bad)
						continue
					}
					l.Set(i, protoreflect.ValueOfString(s))
				case protoreflect.MessageKind, protoreflect.GroupKind:
					out = cleanText(l.Get(i).Message(), item, out)
				}
			}
		case fd.IsMap():
			mp := v.Map()
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				item := path + "[" + strconv.Quote(k.String()) + "]"
				if fd.MapKey().Kind() == protoreflect.StringKind {
					if _, bad := cleanOne(k.String(), false, item); bad != nil {
						out = append(out, bad)
						return true
					}
				}
				switch fd.MapValue().Kind() {
				case protoreflect.StringKind:
					s, bad := cleanOne(mv.String(), multiline, item)
					if bad != nil {
						out = append(out, bad)
						return true
					}
					mp.Set(k, protoreflect.ValueOfString(s))
				case protoreflect.MessageKind, protoreflect.GroupKind:
					out = cleanText(mv.Message(), item, out)
				}
				return true
			})
		case fd.Kind() == protoreflect.StringKind:
			s, bad := cleanOne(v.String(), multiline, path)
			if bad != nil {
				out = append(out, bad)
				return true
			}
			m.Set(fd, protoreflect.ValueOfString(s))
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			out = cleanText(v.Message(), path, out)
		}
		return true
	})
	return out
}

func cleanOne(s string, multiline bool, path string) (string, *errdetails.BadRequest_FieldViolation) {
	clean, err := text.Clean(s, multiline)
	var p *text.Problem
	if errors.As(err, &p) {
		return "", &errdetails.BadRequest_FieldViolation{Field: path, Description: p.Error(), Reason: p.Reason}
	}
	return clean, nil
}

// jsonFieldPath spells protovalidate's field path with JSON names and indexes, walking the
// request's descriptors: "organizations[3].name", "dueDate".
func jsonFieldPath(md protoreflect.MessageDescriptor, fp *validate.FieldPath) string {
	var b strings.Builder
	for _, el := range fp.GetElements() {
		var fd protoreflect.FieldDescriptor
		if md != nil {
			fd = md.Fields().ByNumber(protoreflect.FieldNumber(el.GetFieldNumber()))
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if fd != nil {
			b.WriteString(fd.JSONName())
		} else {
			b.WriteString(el.GetFieldName())
		}
		switch sub := el.GetSubscript().(type) {
		case *validate.FieldPathElement_Index:
			b.WriteString("[" + strconv.FormatUint(sub.Index, 10) + "]")
		case *validate.FieldPathElement_StringKey:
			b.WriteString("[" + strconv.Quote(sub.StringKey) + "]")
		case *validate.FieldPathElement_IntKey:
			b.WriteString("[" + strconv.FormatInt(sub.IntKey, 10) + "]")
		case *validate.FieldPathElement_UintKey:
			b.WriteString("[" + strconv.FormatUint(sub.UintKey, 10) + "]")
		case *validate.FieldPathElement_BoolKey:
			b.WriteString("[" + strconv.FormatBool(sub.BoolKey) + "]")
		}
		md = nil
		if fd != nil {
			switch {
			case fd.IsMap():
				md = fd.MapValue().Message()
			default:
				md = fd.Message()
			}
		}
	}
	return b.String()
}

// validationStatus turns protovalidate's violations into InvalidArgument with a
// google.rpc.BadRequest naming every offending field as the REST client spells it; the message
// names them too, for callers that only print the message.
func validationStatus(md protoreflect.MessageDescriptor, shape requestShape, err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that cannot be evaluated is our bug, not the caller's.
		return err
	}
	violations := make([]*errdetails.BadRequest_FieldViolation, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		violations = append(violations, &errdetails.BadRequest_FieldViolation{
			Field:       jsonFieldPath(md, v.Proto.GetField()),
			Description: v.Proto.GetMessage(),
			Reason:      v.Proto.GetRuleId(),
		})
	}
	return badRequest(md, shape, violations)
}

func badRequest(md protoreflect.MessageDescriptor, shape requestShape, violations []*errdetails.BadRequest_FieldViolation) error {
	br := &errdetails.BadRequest{}
	parts := make([]string, 0, len(violations))
	for _, v := range violations {
		v.Field = shape.restPath(md, v.Field)
		br.FieldViolations = append(br.FieldViolations, v)
		parts = append(parts, v.Field+": "+v.Description)
	}
	s, _ := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; ")).WithDetails(br)
	return s.Err()
}

// validateRequest cleans the request's text in place, then checks the proto's rules against the
// cleaned values (so lengths count the characters that will be stored).
func validateRequest(v protovalidate.Validator, sh *shapes, fullMethod string, req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	md := m.ProtoReflect().Descriptor()
	if bad := cleanText(m.ProtoReflect(), "", nil); len(bad) > 0 {
		return badRequest(md, sh.of(fullMethod), bad)
	}
	if err := v.Validate(m); err != nil {
		return validationStatus(md, sh.of(fullMethod), err)
	}
	return nil
}

// restField spells a field path a domain wrote with proto names ("organization.parent_id",
// "organizations[3].default_engineer_id", "due_date") as the REST client spells it ("parentId",
// "organizations[3].defaultEngineerId", "dueDate"), following the request's descriptors where
// the path names real fields and camel-casing where it names a concept.
func restField(md protoreflect.MessageDescriptor, shape requestShape, field string) string {
	root := md
	segs := strings.Split(field, ".")
	for i, seg := range segs {
		name, index, _ := strings.Cut(seg, "[")
		if index != "" {
			index = "[" + index
		}
		var fd protoreflect.FieldDescriptor
		if md != nil {
			if fd = md.Fields().ByName(protoreflect.Name(name)); fd == nil {
				fd = md.Fields().ByJSONName(name)
			}
		}
		if fd != nil {
			segs[i] = fd.JSONName() + index
			md = fd.Message()
			if fd.IsMap() {
				md = fd.MapValue().Message()
			}
			continue
		}
		segs[i] = fieldmask.CamelCase(name) + index
		md = nil
	}
	return shape.restPath(root, strings.Join(segs, "."))
}

// inRESTWords renames the field of a domain's InvalidArgument error; every other error passes
// unchanged to the one error mapper.
func inRESTWords(md protoreflect.MessageDescriptor, shape requestShape, err error) error {
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalid || ae.Field == "" {
		return err
	}
	renamed := *ae // a copy: ae may be a shared sentinel
	renamed.Field = restField(md, shape, ae.Field)
	if renamed.Field == ae.Field {
		return err
	}
	return &renamed
}

func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	sh := &shapes{}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validateRequest(v, sh, info.FullMethod, req); err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		if err != nil {
			if m, ok := req.(proto.Message); ok {
				err = inRESTWords(m.ProtoReflect().Descriptor(), sh.of(info.FullMethod), err)
			}
		}
		return resp, err
	}
}

func validateStream(v protovalidate.Validator) grpc.StreamServerInterceptor {
	sh := &shapes{}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v, sh: sh, method: info.FullMethod})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v      protovalidate.Validator
	sh     *shapes
	method string
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return validateRequest(s.v, s.sh, s.method, m)
}
