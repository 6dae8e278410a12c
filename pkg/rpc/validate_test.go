package rpc_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// TestEveryStringPassesTheTextValidator sends refused characters in a top-level field and in a
// nested message of a real request: each is refused naming the field as the REST client spells
// it, before the handler runs.
func TestEveryStringPassesTheTextValidator(t *testing.T) {
	keys, addr, impl := start(t)
	c := client(t, addr, keys)
	ctx := identity.With(context.Background(), operator)
	for _, bad := range []struct{ name, in, reason string }{
		{"NUL", "Con\x00toso", "TEXT_CONTROL_CHARACTER"},
		{"bell", "Con\u0007toso", "TEXT_CONTROL_CHARACTER"},
		{"escape", "Con\u001b[31mtoso", "TEXT_CONTROL_CHARACTER"},
		{"C1 NEL", "Con\u0085toso", "TEXT_CONTROL_CHARACTER"},
		{"C1 CSI", "Con\u009btoso", "TEXT_CONTROL_CHARACTER"},
		{"right-to-left override", "Con\u202etoso", "TEXT_BIDI_CONTROL"},
		{"isolate", "\u2066Contoso", "TEXT_BIDI_CONTROL"},
		{"newline in a name", "Con\ntoso", "TEXT_CONTROL_CHARACTER"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			err := create(c, ctx, bad.in)
			if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "account.displayName" || reasonOf(err) != bad.reason {
				t.Fatalf("%q: %v (field %q, reason %q)", bad.in, err, fieldOf(err), reasonOf(err))
			}
			_, err = c.CreateAccount(ctx, &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: "Contoso"},
				Administrator: &orgv1.User{FirstName: bad.in, LastName: "Admin", Email: "ada@example.com"}})
			if status.Code(err) != codes.InvalidArgument || fieldOf(err) != "administrator.firstName" {
				t.Fatalf("nested %q: %v (field %q)", bad.in, err, fieldOf(err))
			}
			select {
			case <-impl.seen:
				t.Fatal("the handler ran for a refused request")
			default:
			}
		})
	}
}

// TestTextIsStoredTrimmedAndInNFC: the handler sees the cleaned text, so "é" typed as e +
// combining accent and as one character is one name.
func TestTextIsStoredTrimmedAndInNFC(t *testing.T) {
	keys, addr, impl := start(t)
	c := client(t, addr, keys)
	resp, err := c.CreateAccount(identity.With(context.Background(), operator), &orgv1.CreateAccountRequest{
		Account:       &orgv1.Account{DisplayName: "  Cafe\u0301 Contoso \u00a0"},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}})
	<-impl.seen
	if err != nil || resp.GetAccount().GetDisplayName() != "Caf\u00e9 Contoso" {
		t.Fatalf("handler saw %q, %v", resp.GetAccount().GetDisplayName(), err)
	}
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetReason()
		}
	}
	return ""
}
