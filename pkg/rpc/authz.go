package rpc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// The interceptor in this file enforces the (orgplane.authz.v1.rule) every RPC declares on its
// proto, before the request is validated or the handler runs. It is a second line beside the
// services' own checks: a handler that forgets its check is still covered, and a method nobody
// wrote a rule for is refused rather than open.

// accountField is the request field that names the account a member rule is checked in.
const accountField = "account_id"

// errNoRule refuses a method without a usable rule. It is our bug, not the caller's, but the
// caller only learns that the call is not allowed.
var errNoRule = apperr.PermissionDenied("this method declares no authorization rule")

var errServicesOnly = apperr.PermissionDenied("only services may do this")

var errMembersOnly = apperr.PermissionDenied("only members of the account may do this")

var errSignedInOnly = apperr.PermissionDenied("only a person signed in with a session may do this")

// methodRule is a method's rule, checked once and ready to apply.
type methodRule struct {
	caller      authzv1.Caller
	permissions []string
	account     protoreflect.FieldDescriptor // the request's account_id, for member rules
	public      bool
}

// MethodRule returns the rule method declares, as the permission strings a member needs, or an
// error saying why the method has no rule that can be applied (none, no caller, an unknown area
// or level, permissions on an operator, service or signed-in user rule, a member rule whose
// request has no string account_id, public on a rule other than a service's). Such a method is
// refused to every caller.
func MethodRule(md protoreflect.MethodDescriptor) (caller authzv1.Caller, permissions []string, err error) {
	r, err := compileRule(md)
	if err != nil {
		return authzv1.Caller_CALLER_UNSPECIFIED, nil, err
	}
	return r.caller, r.permissions, nil
}

// PublicMethod reports whether method's rule is valid and marks it public: the gateway forwards
// its route for anyone, without a credential, acting as itself. A method whose rule cannot be
// applied is never public.
func PublicMethod(md protoreflect.MethodDescriptor) bool {
	r, err := compileRule(md)
	return err == nil && r.public
}

func compileRule(md protoreflect.MethodDescriptor) (*methodRule, error) {
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, authzv1.E_Rule) {
		return nil, fmt.Errorf("%s: no (orgplane.authz.v1.rule) option", md.FullName())
	}
	rule, _ := proto.GetExtension(opts, authzv1.E_Rule).(*authzv1.Rule)
	out := &methodRule{caller: rule.GetCaller(), public: rule.GetPublic()}
	for _, p := range rule.GetPermissions() {
		area, level := p.GetArea(), p.GetLevel()
		if area == authzv1.Area_AREA_UNSPECIFIED || authzv1.Area_name[int32(area)] == "" {
			return nil, fmt.Errorf("%s: permission without a known area", md.FullName())
		}
		if level == authzv1.Level_LEVEL_UNSPECIFIED || authzv1.Level_name[int32(level)] == "" {
			return nil, fmt.Errorf("%s: permission without a known level", md.FullName())
		}
		out.permissions = append(out.permissions, PermissionString(area, level))
	}
	// Public routes are reached without a credential, so only a rule admitting the gateway
	// acting as itself can be one; anything else would be a person's route open to anyone.
	if out.public && out.caller != authzv1.Caller_CALLER_SERVICE {
		return nil, fmt.Errorf("%s: only a service rule can be public", md.FullName())
	}
	switch out.caller {
	case authzv1.Caller_CALLER_OPERATOR, authzv1.Caller_CALLER_SERVICE, authzv1.Caller_CALLER_SIGNED_IN_USER:
		if len(out.permissions) > 0 {
			return nil, fmt.Errorf("%s: an operator, service or signed-in user rule takes no permissions", md.FullName())
		}
	case authzv1.Caller_CALLER_MEMBER, authzv1.Caller_CALLER_OPERATOR_OR_MEMBER:
		f := md.Input().Fields().ByName(accountField)
		if f == nil || f.Kind() != protoreflect.StringKind || f.Cardinality() == protoreflect.Repeated {
			return nil, fmt.Errorf("%s: a member rule needs a string %s in %s", md.FullName(), accountField, md.Input().FullName())
		}
		out.account = f
	default:
		return nil, fmt.Errorf("%s: the rule names no caller", md.FullName())
	}
	return out, nil
}

// PermissionString is the identity permission of a level in an area: AREA_API_KEYS and
// LEVEL_WRITE give "api_keys:write", the org service's role model's spelling.
func PermissionString(area authzv1.Area, level authzv1.Level) string {
	return strings.ToLower(strings.TrimPrefix(area.String(), "AREA_")) + ":" +
		strings.ToLower(strings.TrimPrefix(level.String(), "LEVEL_"))
}

// authorize applies the rule to the caller in ctx. A request is nil until it is known (the
// start of a stream); a member rule is then applied to each message as it arrives.
func (r *methodRule) authorize(ctx context.Context, req proto.Message) error {
	id, ok := identity.From(ctx)
	if !ok {
		return identity.ErrUnauthenticated
	}
	switch r.caller {
	case authzv1.Caller_CALLER_OPERATOR:
		if !id.Operator() {
			return identity.ErrOperatorOnly
		}
		return nil
	case authzv1.Caller_CALLER_SERVICE:
		if id.Kind != identity.KindService {
			return errServicesOnly
		}
		return nil
	case authzv1.Caller_CALLER_SIGNED_IN_USER:
		// The request names no account: the person acts on their own sign-in, in their own
		// account. An API key acting as a user has no session and is refused.
		if !id.SignedIn() {
			return errSignedInOnly
		}
		return nil
	}
	if id.Operator() {
		if r.caller == authzv1.Caller_CALLER_OPERATOR_OR_MEMBER {
			return nil
		}
		return errMembersOnly
	}
	if req == nil {
		return nil
	}
	account := req.ProtoReflect().Get(r.account).String()
	// Only users and keys belong to an account; another account's caller, or one that names
	// no account, gets the answer a missing account gets, so existence never leaks.
	if (id.Kind != identity.KindUser && id.Kind != identity.KindAPIKey) || id.AccountID == "" || id.AccountID != account {
		return identity.ErrAccountNotFound
	}
	var missing []string
	for _, p := range r.permissions {
		if !id.Has(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return apperr.PermissionDenied("your role does not allow this (needs " + strings.Join(missing, ", ") + ")")
	}
	return nil
}

// authorizer finds each method's rule in the registered proto descriptors, once.
type authorizer struct {
	rules sync.Map // full method name -> ruleResult
}

type ruleResult struct {
	rule *methodRule
	err  error
}

func (a *authorizer) rule(fullMethod string) (*methodRule, error) {
	if v, ok := a.rules.Load(fullMethod); ok {
		r := v.(ruleResult)
		return r.rule, r.err
	}
	r, err := lookupRule(fullMethod)
	a.rules.Store(fullMethod, ruleResult{r, err})
	return r, err
}

// lookupRule resolves "/package.Service/Method" to its rule.
func lookupRule(fullMethod string) (*methodRule, error) {
	service, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("%s: not a method name", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fmt.Errorf("%s: service descriptor: %w", fullMethod, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a service", fullMethod, service)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("%s: no such method", fullMethod)
	}
	return compileRule(md)
}

func (a *authorizer) check(fullMethod string) (*methodRule, error) {
	r, err := a.rule(fullMethod)
	if err != nil {
		return nil, errNoRule.Wrap(err)
	}
	return r, nil
}

func (a *authorizer) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if public(info.FullMethod) {
			return handler(ctx, req)
		}
		r, err := a.check(info.FullMethod)
		if err != nil {
			return nil, err
		}
		m, ok := req.(proto.Message)
		if !ok {
			return nil, errNoRule.Wrap(fmt.Errorf("%s: request is not a proto message", info.FullMethod))
		}
		if err := r.authorize(ctx, m); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (a *authorizer) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if public(info.FullMethod) {
			return handler(srv, ss)
		}
		r, err := a.check(info.FullMethod)
		if err != nil {
			return err
		}
		if err := r.authorize(ss.Context(), nil); err != nil {
			return err
		}
		if r.account == nil {
			return handler(srv, ss)
		}
		return handler(srv, &authorizingStream{ServerStream: ss, rule: r})
	}
}

// authorizingStream applies a member rule to every message a client sends, since each names
// its own account.
type authorizingStream struct {
	grpc.ServerStream
	rule *methodRule
}

func (s *authorizingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return errNoRule
	}
	return s.rule.authorize(s.Context(), msg)
}

// checkRules reports every method of services (grpc.Server.GetServiceInfo) that has no usable
// rule, so a server refuses to start with a route nobody decided who may call.
func checkRules(services map[string]grpc.ServiceInfo) error {
	var errs []error
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, m := range services[name].Methods {
			full := "/" + name + "/" + m.Name
			if public(full) {
				continue
			}
			if _, err := lookupRule(full); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("methods without an authorization rule: %w", errors.Join(errs...))
	}
	return nil
}

// authzUnary and authzStream enforce each method's rule (see authorizer).
func authzUnary() grpc.UnaryServerInterceptor   { return (&authorizer{}).unary() }
func authzStream() grpc.StreamServerInterceptor { return (&authorizer{}).stream() }
