package rpc_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// scripted fails in the ways a real handler can.
type scripted struct {
	orgv1.UnimplementedAccountServiceServer
	seen chan identity.Identity
}

func (s *scripted) CreateAccount(ctx context.Context, req *orgv1.CreateAccountRequest) (*orgv1.CreateAccountResponse, error) {
	id, _ := identity.From(ctx)
	s.seen <- id
	switch req.GetAccount().GetDisplayName() {
	case "panic":
		panic("boom at /secret/path/store.go:42")
	case "sql":
		return nil, errors.New(`ERROR: relation "org.accounts" does not exist (SQLSTATE 42P01)`)
	case "missing":
		return nil, apperr.NotFound("account not found")
	case "domain-invalid":
		return nil, apperr.Invalid("account.display_name", "is reserved")
	}
	return &orgv1.CreateAccountResponse{Account: &orgv1.Account{Id: "a1", DisplayName: req.GetAccount().GetDisplayName()}}, nil
}

func start(t *testing.T) (*identity.Keyring, string, *scripted) {
	t.Helper()
	keys := testkit.Keyring(t)
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys)
	if err != nil {
		t.Fatal(err)
	}
	impl := &scripted{seen: make(chan identity.Identity, 10)}
	orgv1.RegisterAccountServiceServer(srv, impl)
	return keys, testkit.ServeGRPC(t, srv), impl
}

func client(t *testing.T, addr string, keys *identity.Keyring) orgv1.AccountServiceClient {
	t.Helper()
	conn, err := rpc.Dial(addr, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return orgv1.NewAccountServiceClient(conn)
}

var operator = identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"}

func create(c orgv1.AccountServiceClient, ctx context.Context, name string) error {
	_, err := c.CreateAccount(ctx, &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: name},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}})
	return err
}

func TestCallsWithoutAVerifiedIdentityAreRefused(t *testing.T) {
	keys, addr, _ := start(t)

	// The suite's own client refuses to call as nobody.
	if err := create(client(t, addr, keys), context.Background(), "Contoso"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no identity in context: %v", err)
	}
	// A raw client with no token, a forged token, or a token from other keys is refused by the server.
	raw, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	other := testkit.Keyring(t)
	foreign, _ := other.Sign(operator)
	for name, md := range map[string]metadata.MD{
		"none":          nil,
		"garbage":       metadata.Pairs(identity.MetadataKey, "garbage"),
		"other keys":    metadata.Pairs(identity.MetadataKey, foreign),
		"authorization": metadata.Pairs("authorization", "Bearer trust-me"),
	} {
		ctx := metadata.NewOutgoingContext(context.Background(), md)
		if err := create(orgv1.NewAccountServiceClient(raw), ctx, "Contoso"); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
	}
	// Health needs no identity: probes carry none.
	resp, err := healthpb.NewHealthClient(raw).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
}

func TestIdentityReachesTheHandler(t *testing.T) {
	keys, addr, impl := start(t)
	if err := create(client(t, addr, keys), identity.With(context.Background(), operator), "Contoso"); err != nil {
		t.Fatal(err)
	}
	if got := <-impl.seen; got.Kind != identity.KindOperator || got.PrincipalID != "op" {
		t.Fatalf("handler saw %+v", got)
	}
}

func TestErrorsAreMappedOnceAndInternalsMasked(t *testing.T) {
	keys, addr, _ := start(t)
	c := client(t, addr, keys)
	ctx := identity.With(context.Background(), operator)

	err := create(c, ctx, "")
	if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "account.displayName" {
		t.Errorf("validation: %v (field %q)", err, fieldOf(err))
	}
	err = create(c, ctx, "domain-invalid")
	if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "account.displayName" {
		t.Errorf("domain validation: %v", err)
	}
	if err := create(c, ctx, "missing"); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "account not found" {
		t.Errorf("not found: %v", err)
	}
	for _, name := range []string{"panic", "sql"} {
		rctx := metadata.AppendToOutgoingContext(ctx, rpc.RequestIDKey, "corr-"+name+"-123456")
		err := create(c, rctx, name)
		s := status.Convert(err)
		if s.Code() != codes.Internal {
			t.Errorf("%s: code %v", name, s.Code())
		}
		if !strings.Contains(s.Message(), "corr-"+name+"-123456") {
			t.Errorf("%s: message lacks the correlation id: %q", name, s.Message())
		}
		for _, leak := range []string{"boom", "/secret", `relation "`, "SQLSTATE", ".go"} {
			if strings.Contains(s.Message(), leak) || strings.Contains(s.String(), leak) {
				t.Errorf("%s: leaks %q: %v", name, leak, s)
			}
		}
	}
}

func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
