package pagetoken_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
)

type pos struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

func sealer(key string) *pagetoken.Sealer {
	return pagetoken.New([]byte(strings.Repeat(key, 32)[:32]))
}

var (
	admin   = identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-a", AccountID: "acct-a", UserID: "u1"}
	limited = identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-a", AccountID: "acct-a", UserID: "u1",
		RestrictedToGroups: true, Groups: []string{"g1", "g2"}}
)

func as(id identity.Identity) context.Context { return identity.With(context.Background(), id) }

// issue returns the token of the second page of a two-item list.
func issue(t *testing.T, s *pagetoken.Sealer, id identity.Identity, list string, last pos, query ...string) string {
	t.Helper()
	p, err := pagetoken.Open[pos](as(id), s, list, 1, "", query...)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := pagetoken.Next(p, []pos{last, {"zz", "2"}}, func(p pos) pos { return p })
	if err != nil || tok == "" {
		t.Fatalf("next = %q %v", tok, err)
	}
	return tok
}

func TestPagesWalkAList(t *testing.T) {
	t.Parallel()
	s := sealer("k")
	items := []string{"a", "b", "c", "d", "e"}
	read := func(p pagetoken.Page[string]) []string { // the store's "after, limit size+1"
		var out []string
		for _, it := range items {
			if (!p.Continues || it > p.After) && len(out) < p.Size+1 {
				out = append(out, it)
			}
		}
		return out
	}
	var seen []string
	token := ""
	for range 10 {
		p, err := pagetoken.Open[string](as(admin), s, "letters", 2, token, "acct-a", "filter=x")
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		page, token, err = pagetoken.Next(p, read(p), func(s string) string { return s })
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if token == "" {
			break
		}
	}
	if !slices.Equal(seen, items) {
		t.Fatalf("walked %v, want %v", seen, items)
	}
	if p, _ := pagetoken.Open[string](as(admin), s, "letters", 0, ""); p.Size != pagetoken.DefaultPageSize {
		t.Errorf("size 0 gives %d, want the default", p.Size)
	}
	if p, _ := pagetoken.Open[string](as(admin), s, "letters", 5000, ""); p.Size != pagetoken.MaxPageSize {
		t.Errorf("size 5000 gives %d, want the cap", p.Size)
	}
}

// Every part of the binding, changed alone, makes the token foreign; page size and the order of
// the caller's groups do not.
func TestATokenOpensOnlyForItsCallerListAndQuery(t *testing.T) {
	t.Parallel()
	s := sealer("k")
	last := pos{"Contoso", "42"}
	tok := issue(t, s, limited, "organizations", last, "acct-a", "filter=x")
	with := func(f func(*identity.Identity)) identity.Identity {
		id := limited
		id.Groups = slices.Clone(limited.Groups)
		f(&id)
		return id
	}
	cases := []struct {
		name  string
		id    identity.Identity
		list  string
		size  int32
		query []string
		ok    bool
	}{
		{"the same caller, list and query", limited, "organizations", 1, []string{"acct-a", "filter=x"}, true},
		{"another page size", limited, "organizations", 50, []string{"acct-a", "filter=x"}, true},
		{"the groups in another order", with(func(id *identity.Identity) { id.Groups = []string{"g2", "g1"} }), "organizations", 1, []string{"acct-a", "filter=x"}, true},
		{"another account", with(func(id *identity.Identity) { id.AccountID = "acct-b" }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"another listed account", limited, "organizations", 1, []string{"acct-b", "filter=x"}, false},
		{"another principal", with(func(id *identity.Identity) { id.PrincipalID = "key-b" }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"another kind of principal", with(func(id *identity.Identity) { id.Kind = identity.KindUser }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"an operator", with(func(id *identity.Identity) { id.Kind = identity.KindOperator; id.AccountID = "" }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"all organizations", with(func(id *identity.Identity) { id.RestrictedToGroups = false; id.Groups = nil }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"all organizations with the same groups", with(func(id *identity.Identity) { id.RestrictedToGroups = false }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"one group fewer", with(func(id *identity.Identity) { id.Groups = []string{"g1"} }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"one group more", with(func(id *identity.Identity) { id.Groups = []string{"g1", "g2", "g3"} }), "organizations", 1, []string{"acct-a", "filter=x"}, false},
		{"another list", limited, "reviews", 1, []string{"acct-a", "filter=x"}, false},
		{"another filter", limited, "organizations", 1, []string{"acct-a", "filter=y"}, false},
		{"the query split elsewhere", limited, "organizations", 1, []string{"acct-afilter=x"}, false},
		{"a query part more", limited, "organizations", 1, []string{"acct-a", "filter=x", ""}, false},
		{"a query part fewer", limited, "organizations", 1, []string{"acct-a"}, false},
	}
	for _, c := range cases {
		p, err := pagetoken.Open[pos](as(c.id), s, c.list, c.size, tok, c.query...)
		switch {
		case c.ok && (err != nil || !p.Continues || p.After != last):
			t.Errorf("%s: %+v %v, want the position", c.name, p.After, err)
		case !c.ok && !errors.Is(err, pagetoken.ErrBadToken):
			t.Errorf("%s: %v, want ErrBadToken", c.name, err)
		case !c.ok && (p.Continues || p.After != pos{}):
			t.Errorf("%s: the refused page still continues after %+v", c.name, p.After)
		}
	}
}

func TestAlteredOrForgedTokensAreRefused(t *testing.T) {
	t.Parallel()
	s := sealer("k")
	// Names of three lengths: tokens whose last character carries 0, 2 and 4 unused bits.
	for _, name := range []string{"Ada", strings.Repeat("a", 40), strings.Repeat("a", 70)} {
		tok := issue(t, s, admin, "users", pos{name, "7"}, "acct-a")
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		var bad []string
		for i := range raw { // every byte: version, nonce, ciphertext and tag
			b := bytes.Clone(raw)
			b[i] ^= 0x01
			bad = append(bad, base64.RawURLEncoding.EncodeToString(b))
		}
		// Every character replaced by every other: a token spelt otherwise, even in the unused
		// bits of its last character, is refused.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := range tok {
			for _, c := range alphabet {
				if byte(c) != tok[i] {
					bad = append(bad, tok[:i]+string(c)+tok[i+1:])
				}
			}
		}
		bad = append(bad,
			tok[:len(tok)-1], tok[:len(tok)/2], tok+"A", tok+"=", "!!!", "YWJj",
			base64.RawURLEncoding.EncodeToString(raw[:1+24+16]),                     // an empty box
			base64.RawURLEncoding.EncodeToString([]byte(`{"a":{"n":"A","i":"x"}}`)), // the old format
			strings.Repeat("A", 5000),
		)
		for _, b := range bad {
			if _, err := pagetoken.Open[pos](as(admin), s, "users", 1, b, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
				t.Errorf("token %q: %v, want ErrBadToken", b, err)
			}
		}
		if _, err := pagetoken.Open[pos](as(admin), sealer("other"), "users", 1, tok, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
			t.Errorf("another key: %v, want ErrBadToken", err)
		}
	}
}

func TestTokensExpire(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	s := sealer("k").WithClock(func() time.Time { return now })
	tok := issue(t, s, admin, "users", pos{"Ada", "7"}, "acct-a")
	for _, c := range []struct {
		age  time.Duration
		want error
	}{
		{0, nil},
		{pagetoken.TTL - time.Second, nil},
		{pagetoken.TTL, pagetoken.ErrExpiredToken},
		{30 * 24 * time.Hour, pagetoken.ErrExpiredToken},
	} {
		later := s.WithClock(func() time.Time { return now.Add(c.age) })
		if _, err := pagetoken.Open[pos](as(admin), later, "users", 1, tok, "acct-a"); !errors.Is(err, c.want) {
			t.Errorf("after %v: %v, want %v", c.age, err, c.want)
		}
	}
	// Expiry is learnt only by the caller the token was issued to.
	later := s.WithClock(func() time.Time { return now.Add(2 * pagetoken.TTL) })
	other := admin
	other.AccountID = "acct-b"
	if _, err := pagetoken.Open[pos](as(other), later, "users", 1, tok, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
		t.Errorf("another account's expired token: %v, want ErrBadToken", err)
	}
}

func keyring(t *testing.T, spec ...string) *identity.Keyring {
	t.Helper()
	var parts []string
	for _, kid := range spec {
		parts = append(parts, kid+":"+base64.StdEncoding.EncodeToString([]byte(strings.Repeat(kid, 32)[:32])))
	}
	kr, err := identity.ParseKeyring(strings.Join(parts, ","))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// The keys rotate with the identity keyring: the newest seals, every listed key opens.
func TestKeysRotateWithTheIdentityKeyring(t *testing.T) {
	t.Parallel()
	old := pagetoken.FromKeyring(keyring(t, "old"), "org page tokens")
	rotated := pagetoken.FromKeyring(keyring(t, "new", "old"), "org page tokens")
	retired := pagetoken.FromKeyring(keyring(t, "new"), "org page tokens")
	tok := issue(t, old, admin, "users", pos{"Ada", "7"}, "acct-a")
	if _, err := pagetoken.Open[pos](as(admin), rotated, "users", 1, tok, "acct-a"); err != nil {
		t.Errorf("a token of the old key after the new one was prepended: %v", err)
	}
	if _, err := pagetoken.Open[pos](as(admin), retired, "users", 1, tok, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
		t.Errorf("a token of a key removed from the ring: %v, want ErrBadToken", err)
	}
	fresh := issue(t, rotated, admin, "users", pos{"Ada", "7"}, "acct-a")
	if _, err := pagetoken.Open[pos](as(admin), retired, "users", 1, fresh, "acct-a"); err != nil {
		t.Errorf("a token sealed after the rotation does not open with the new key alone: %v", err)
	}
	if _, err := pagetoken.Open[pos](as(admin), old, "users", 1, fresh, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
		t.Errorf("a token sealed after the rotation opens with the old key: %v", err)
	}
	other := pagetoken.FromKeyring(keyring(t, "new", "old"), "billing page tokens")
	if _, err := pagetoken.Open[pos](as(admin), other, "users", 1, fresh, "acct-a"); !errors.Is(err, pagetoken.ErrBadToken) {
		t.Errorf("a token of another purpose's keys: %v, want ErrBadToken", err)
	}
}

// Nothing of the last item shows through the token, not even the length of its name within a
// padding bucket.
func TestTokensRevealNothingOfTheLastItem(t *testing.T) {
	t.Parallel()
	s := sealer("k")
	last := pos{"Contoso <Plaintext> Marker", "0b6e3c7a-5d5e-4c55-9a41-2f3f8e9b7c11"}
	tok := issue(t, s, admin, "organizations", last, "acct-a")
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for _, secret := range []string{last.Name, "Contoso", "Marker", last.ID, "0b6e3c7a", `"n"`} {
		if strings.Contains(tok, secret) || bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the token shows %q: %s", secret, tok)
		}
	}
	lengths := map[int]bool{}
	for n := 1; n <= 32; n++ {
		tok := issue(t, s, admin, "organizations", pos{strings.Repeat("x", n), last.ID}, "acct-a")
		lengths[len(tok)] = true
	}
	if len(lengths) > 2 {
		t.Errorf("names of 1 to 32 bytes give tokens of %d lengths, want at most 2 (padding)", len(lengths))
	}
	if again := issue(t, s, admin, "organizations", last, "acct-a"); again == tok {
		t.Error("the same position sealed twice gives the same token")
	}
}

func TestATokenNeedsACaller(t *testing.T) {
	t.Parallel()
	if _, err := pagetoken.Open[pos](context.Background(), sealer("k"), "users", 1, ""); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("no identity: %v, want ErrUnauthenticated", err)
	}
}
