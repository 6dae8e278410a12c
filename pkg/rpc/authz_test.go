package rpc_test

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// protoRoot is the repository's proto folder, seen from this package.
const protoRoot = "../../proto"

// TestEveryRPCDeclaresAnApplicableRule is "a route without a permission rule fails the build":
// it walks every service of every Orgplane proto file and fails for a method with no rule, or
// with one the interceptor could not apply (which it would refuse to everyone).
func TestEveryRPCDeclaresAnApplicableRule(t *testing.T) {
	// Every proto file that declares a service must be linked into this test, or the walk
	// below would silently skip it.
	serviceDecl := regexp.MustCompile(`(?m)^service \w+`)
	err := filepath.WalkDir(filepath.Join(protoRoot, "orgplane"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".proto") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(protoRoot, path)
		if serviceDecl.Match(src) {
			if _, err := protoregistry.GlobalFiles.FindFileByPath(filepath.ToSlash(rel)); err != nil {
				t.Errorf("%s declares a service but its Go package is not imported by this test", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	methods := 0
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				methods++
				md := sd.Methods().Get(j)
				caller, perms, err := rpc.MethodRule(md)
				if err != nil {
					t.Errorf("%s: %v", md.FullName(), err)
					continue
				}
				t.Logf("%-60s %s %v", md.FullName(), caller, perms)
			}
		}
		return true
	})
	if methods < 50 {
		t.Fatalf("walked only %d methods: the registry is not what this test expects", methods)
	}
}

// TestRuleAreasAreTheRoleModelsAreas keeps the rule's areas and the org service's role model
// (orgplane.org.v1.Permissions, one field per area) the same list, so a rule cannot name an
// area no role can grant, nor a role grant one no rule can ask for.
func TestRuleAreasAreTheRoleModelsAreas(t *testing.T) {
	var rules, roles []string
	for i := range authzv1.Area(0).Descriptor().Values().Len() {
		if a := authzv1.Area(authzv1.Area(0).Descriptor().Values().Get(i).Number()); a != authzv1.Area_AREA_UNSPECIFIED {
			rules = append(rules, strings.TrimSuffix(rpc.PermissionString(a, authzv1.Level_LEVEL_READ), ":read"))
		}
	}
	fields := (&orgv1.Permissions{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		roles = append(roles, string(fields.Get(i).Name()))
	}
	slices.Sort(rules)
	slices.Sort(roles)
	if !slices.Equal(rules, roles) {
		t.Fatalf("rule areas %v, role model areas %v", rules, roles)
	}
	if got := rpc.PermissionString(authzv1.Area_AREA_API_KEYS, authzv1.Level_LEVEL_WRITE); got != "api_keys:write" {
		t.Fatalf("PermissionString = %q", got)
	}
}

// The test services: a file of rules of every kind, and rules the interceptor must refuse to
// apply. Its package is outside "orgplane." so the registry walk above does not see it.
const testPackage = "authztest.v1"

func member(caller authzv1.Caller, perms ...*authzv1.Permission) *authzv1.Rule {
	return &authzv1.Rule{Caller: caller, Permissions: perms}
}

func perm(a authzv1.Area, l authzv1.Level) *authzv1.Permission {
	return &authzv1.Permission{Area: a, Level: l}
}

type testMethod struct {
	name, input string
	rule        *authzv1.Rule // nil: no option at all
}

var (
	ruledMethods = []testMethod{
		{"Operator", "Empty", member(authzv1.Caller_CALLER_OPERATOR)},
		{"Service", "Empty", member(authzv1.Caller_CALLER_SERVICE)},
		{"MemberWrite", "AccountRequest", member(authzv1.Caller_CALLER_MEMBER, perm(authzv1.Area_AREA_ORGANIZATIONS, authzv1.Level_LEVEL_WRITE))},
		{"OperatorOrMemberTwo", "AccountRequest", member(authzv1.Caller_CALLER_OPERATOR_OR_MEMBER,
			perm(authzv1.Area_AREA_MAPPINGS, authzv1.Level_LEVEL_READ), perm(authzv1.Area_AREA_ORGANIZATIONS, authzv1.Level_LEVEL_READ))},
		{"AnyMember", "AccountRequest", member(authzv1.Caller_CALLER_OPERATOR_OR_MEMBER)},
		// Validation runs after authorization: an empty name breaks ValidatedRequest's rule.
		{"Validated", "ValidatedRequest", member(authzv1.Caller_CALLER_OPERATOR_OR_MEMBER, perm(authzv1.Area_AREA_USERS, authzv1.Level_LEVEL_READ))},
		{"SignedIn", "Empty", member(authzv1.Caller_CALLER_SIGNED_IN_USER)},
		// A signed-in person's request may still carry an account_id; it does not widen the rule.
		{"SignedInAccountRequest", "AccountRequest", member(authzv1.Caller_CALLER_SIGNED_IN_USER)},
		{"PublicService", "Empty", &authzv1.Rule{Caller: authzv1.Caller_CALLER_SERVICE, Public: true}},
	}
	brokenMethods = []testMethod{
		{"NoOption", "AccountRequest", nil},
		{"NoCaller", "AccountRequest", &authzv1.Rule{}},
		{"UnknownArea", "AccountRequest", member(authzv1.Caller_CALLER_MEMBER, perm(authzv1.Area(99), authzv1.Level_LEVEL_READ))},
		{"NoArea", "AccountRequest", member(authzv1.Caller_CALLER_MEMBER, perm(authzv1.Area_AREA_UNSPECIFIED, authzv1.Level_LEVEL_READ))},
		{"NoLevel", "AccountRequest", member(authzv1.Caller_CALLER_MEMBER, perm(authzv1.Area_AREA_USERS, authzv1.Level_LEVEL_UNSPECIFIED))},
		{"OperatorWithPermissions", "Empty", member(authzv1.Caller_CALLER_OPERATOR, perm(authzv1.Area_AREA_USERS, authzv1.Level_LEVEL_READ))},
		{"MemberWithoutAccount", "Empty", member(authzv1.Caller_CALLER_OPERATOR_OR_MEMBER)},
		{"MemberWithNumericAccount", "NumericAccountRequest", member(authzv1.Caller_CALLER_OPERATOR_OR_MEMBER)},
		{"SignedInWithPermissions", "Empty", member(authzv1.Caller_CALLER_SIGNED_IN_USER, perm(authzv1.Area_AREA_USERS, authzv1.Level_LEVEL_READ))},
		{"PublicMember", "AccountRequest", &authzv1.Rule{Caller: authzv1.Caller_CALLER_MEMBER, Public: true}},
		{"PublicOperator", "Empty", &authzv1.Rule{Caller: authzv1.Caller_CALLER_OPERATOR, Public: true}},
		{"PublicSignedIn", "Empty", &authzv1.Rule{Caller: authzv1.Caller_CALLER_SIGNED_IN_USER, Public: true}},
	}
)

// testFile builds and registers (once per test binary) the test services' descriptors.
var testFile = sync.OnceValues(func() (protoreflect.FileDescriptor, error) {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	field := func(name string, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(1), Type: typ.Enum(), Label: opt, JsonName: proto.String("accountId")}
	}
	// ValidatedRequest.name must not be empty (min_len 1), as a protovalidate rule.
	name := &descriptorpb.FieldDescriptorProto{Name: proto.String("name"), Number: proto.Int32(2), Type: str, Label: opt,
		JsonName: proto.String("name"), Options: &descriptorpb.FieldOptions{}}
	proto.SetExtension(name.Options, validate.E_Field, &validate.FieldRules{Type: &validate.FieldRules_String_{String_: &validate.StringRules{MinLen: proto.Uint64(1)}}})
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("authztest/v1/authztest.proto"),
		Package: proto.String(testPackage),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("Empty")},
			{Name: proto.String("AccountRequest"), Field: []*descriptorpb.FieldDescriptorProto{{Name: proto.String("account_id"), Number: proto.Int32(1), Type: str, Label: opt, JsonName: proto.String("accountId")}}},
			{Name: proto.String("NumericAccountRequest"), Field: []*descriptorpb.FieldDescriptorProto{field("account_id", descriptorpb.FieldDescriptorProto_TYPE_INT64)}},
			{Name: proto.String("ValidatedRequest"), Field: []*descriptorpb.FieldDescriptorProto{field("account_id", descriptorpb.FieldDescriptorProto_TYPE_STRING), name}},
		},
	}
	for _, svc := range []struct {
		name    string
		methods []testMethod
	}{{"Ruled", ruledMethods}, {"Broken", brokenMethods}} {
		sd := &descriptorpb.ServiceDescriptorProto{Name: proto.String(svc.name)}
		for _, m := range svc.methods {
			md := &descriptorpb.MethodDescriptorProto{Name: proto.String(m.name),
				InputType: proto.String("." + testPackage + "." + m.input), OutputType: proto.String("." + testPackage + ".Empty")}
			if m.rule != nil {
				md.Options = &descriptorpb.MethodOptions{}
				proto.SetExtension(md.Options, authzv1.E_Rule, m.rule)
			}
			sd.Method = append(sd.Method, md)
		}
		fdp.Service = append(fdp.Service, sd)
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		return nil, err
	}
	return fd, protoregistry.GlobalFiles.RegisterFile(fd)
})

func testService(t *testing.T, name string) protoreflect.ServiceDescriptor {
	t.Helper()
	fd, err := testFile()
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().ByName(protoreflect.Name(name))
}

// serviceDesc serves sd with handlers that answer an empty message: reaching one means the
// call was let through.
func serviceDesc(sd protoreflect.ServiceDescriptor) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{ServiceName: string(sd.FullName()), HandlerType: (*any)(nil)}
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		full := "/" + string(sd.FullName()) + "/" + string(md.Name())
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: string(md.Name()),
			Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := dynamicpb.NewMessage(md.Input())
				if err := dec(in); err != nil {
					return nil, err
				}
				reached := func(context.Context, any) (any, error) { return dynamicpb.NewMessage(md.Output()), nil }
				return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, reached)
			},
		})
	}
	return desc
}

func TestMethodRuleRefusesRulesItCannotApply(t *testing.T) {
	broken := testService(t, "Broken")
	for _, m := range brokenMethods {
		t.Run(m.name, func(t *testing.T) {
			if c, p, err := rpc.MethodRule(broken.Methods().ByName(protoreflect.Name(m.name))); err == nil {
				t.Fatalf("accepted: %v %v", c, p)
			}
		})
	}
	ruled := testService(t, "Ruled")
	_, perms, err := rpc.MethodRule(ruled.Methods().ByName("OperatorOrMemberTwo"))
	if err != nil || !slices.Equal(perms, []string{"mappings:read", "organizations:read"}) {
		t.Fatalf("OperatorOrMemberTwo: %v %v", perms, err)
	}
	if c, _, err := rpc.MethodRule(ruled.Methods().ByName("SignedIn")); err != nil || c != authzv1.Caller_CALLER_SIGNED_IN_USER {
		t.Fatalf("SignedIn: %v %v", c, err)
	}
}

// Only a valid service rule can open a route to anyone: the gateway asks PublicMethod.
func TestPublicMethod(t *testing.T) {
	ruled, broken := testService(t, "Ruled"), testService(t, "Broken")
	for _, m := range ruledMethods {
		want := m.name == "PublicService"
		if got := rpc.PublicMethod(ruled.Methods().ByName(protoreflect.Name(m.name))); got != want {
			t.Errorf("%s: public %v, want %v", m.name, got, want)
		}
	}
	for _, m := range brokenMethods {
		if rpc.PublicMethod(broken.Methods().ByName(protoreflect.Name(m.name))) {
			t.Errorf("%s: an unusable rule is public", m.name)
		}
	}
}

func TestAServerWithAMethodWithoutARuleDoesNotStart(t *testing.T) {
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), testkit.Keyring(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterService(serviceDesc(testService(t, "Ruled")), struct{}{})
	srv.RegisterService(serviceDesc(testService(t, "Broken")), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Serve(context.Background(), lis)
	if err == nil {
		t.Fatal("Serve started a server with unruled methods")
	}
	for _, m := range brokenMethods {
		if !strings.Contains(err.Error(), testPackage+".Broken."+m.name) {
			t.Errorf("the error does not name %s: %v", m.name, err)
		}
	}
	if strings.Contains(err.Error(), ".Ruled.") {
		t.Errorf("the error names a ruled method: %v", err)
	}
}

func TestTheDeclaredRuleIsEnforcedBeforeValidationAndTheHandler(t *testing.T) {
	keys := testkit.Keyring(t)
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys)
	if err != nil {
		t.Fatal(err)
	}
	ruled := testService(t, "Ruled")
	srv.RegisterService(serviceDesc(ruled), struct{}{})
	conn, err := rpc.Dial(testkit.ServeGRPC(t, srv), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	const acct, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	ids := map[string]identity.Identity{
		"operator":           {Kind: identity.KindOperator, PrincipalID: "op"},
		"service":            {Kind: identity.KindService, PrincipalID: "billing"},
		"admin user":         {Kind: identity.KindUser, PrincipalID: "u1", AccountID: acct, Permissions: []string{"organizations:read", "organizations:write", "mappings:read", "users:read"}},
		"reader key":         {Kind: identity.KindAPIKey, PrincipalID: "k1", AccountID: acct, Permissions: []string{"organizations:read", "users:read"}},
		"mappings-only key":  {Kind: identity.KindAPIKey, PrincipalID: "k2", AccountID: acct, Permissions: []string{"mappings:read"}},
		"no-permissions key": {Kind: identity.KindAPIKey, PrincipalID: "k3", AccountID: acct},
		"other account":      {Kind: identity.KindUser, PrincipalID: "u2", AccountID: other, Permissions: []string{"organizations:read", "organizations:write", "mappings:read", "users:read"}},
		"service as member":  {Kind: identity.KindService, PrincipalID: "mapping", AccountID: acct, Permissions: []string{"organizations:write", "mappings:read", "organizations:read", "users:read"}},
		"signed-in user":     {Kind: identity.KindUser, PrincipalID: "u3", AccountID: acct, UserID: "u3", SessionID: "s3", Permissions: []string{"organizations:read"}},
		"signed-in other":    {Kind: identity.KindUser, PrincipalID: "u4", AccountID: other, UserID: "u4", SessionID: "s4"},
		"key as user":        {Kind: identity.KindAPIKey, PrincipalID: "k4", AccountID: acct, UserID: "u3", Permissions: []string{"organizations:read"}},
	}
	const ok, denied, hidden = codes.OK, codes.PermissionDenied, codes.NotFound
	want := map[string]map[string]codes.Code{
		"Operator":            {"operator": ok, "service": denied, "admin user": denied, "reader key": denied, "mappings-only key": denied, "no-permissions key": denied, "other account": denied, "service as member": denied},
		"Service":             {"operator": denied, "service": ok, "admin user": denied, "reader key": denied, "mappings-only key": denied, "no-permissions key": denied, "other account": denied, "service as member": ok},
		"MemberWrite":         {"operator": denied, "service": hidden, "admin user": ok, "reader key": denied, "mappings-only key": denied, "no-permissions key": denied, "other account": hidden, "service as member": hidden},
		"OperatorOrMemberTwo": {"operator": ok, "service": hidden, "admin user": ok, "reader key": denied, "mappings-only key": denied, "no-permissions key": denied, "other account": hidden, "service as member": hidden},
		"AnyMember":           {"operator": ok, "service": hidden, "admin user": ok, "reader key": ok, "mappings-only key": ok, "no-permissions key": ok, "other account": hidden, "service as member": hidden},
		// Only a person with a session; an API key acting as that person and a user identity
		// without a session are refused, as are services and the operator.
		"SignedIn":               {"operator": denied, "service": denied, "admin user": denied, "reader key": denied, "key as user": denied, "other account": denied, "service as member": denied, "signed-in user": ok, "signed-in other": ok},
		"SignedInAccountRequest": {"operator": denied, "service": denied, "admin user": denied, "key as user": denied, "signed-in user": ok, "signed-in other": ok},
		"PublicService":          {"operator": denied, "service": ok, "admin user": denied, "reader key": denied, "signed-in user": denied, "key as user": denied},
	}
	// A session does not widen a member rule: the account and the permissions still decide.
	for method, code := range map[string]codes.Code{"MemberWrite": denied, "OperatorOrMemberTwo": denied, "AnyMember": ok, "Operator": denied, "Service": denied} {
		want[method]["signed-in user"] = code
		want[method]["key as user"] = map[string]codes.Code{"MemberWrite": denied, "OperatorOrMemberTwo": denied, "AnyMember": ok, "Operator": denied, "Service": denied}[method]
	}
	for _, method := range []string{"MemberWrite", "OperatorOrMemberTwo", "AnyMember"} {
		want[method]["signed-in other"] = hidden
	}
	for method, byID := range want {
		md := ruled.Methods().ByName(protoreflect.Name(method))
		for who, code := range byID {
			t.Run(method+"/"+who, func(t *testing.T) {
				in := dynamicpb.NewMessage(md.Input())
				if f := md.Input().Fields().ByName("account_id"); f != nil {
					in.Set(f, protoreflect.ValueOfString(acct))
				}
				err := conn.Invoke(identity.With(context.Background(), ids[who]), "/"+string(ruled.FullName())+"/"+method, in, dynamicpb.NewMessage(md.Output()))
				if got := status.Code(err); got != code {
					t.Fatalf("%v, want %v", err, code)
				}
			})
		}
	}

	// A caller the rule refuses learns nothing from the request's mistakes; one it admits gets
	// the validation error.
	md := ruled.Methods().ByName("Validated")
	in := dynamicpb.NewMessage(md.Input())
	in.Set(md.Input().Fields().ByName("account_id"), protoreflect.ValueOfString(acct))
	call := func(who string) error {
		return conn.Invoke(identity.With(context.Background(), ids[who]), "/"+string(ruled.FullName())+"/Validated", in, dynamicpb.NewMessage(md.Output()))
	}
	if err := call("mappings-only key"); status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "users:read") {
		t.Errorf("refused caller: %v, want PermissionDenied naming users:read", err)
	}
	if err := call("reader key"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("admitted caller: %v, want InvalidArgument", err)
	}
}
