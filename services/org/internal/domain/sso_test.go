package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestIssuerMustBeHTTPSOrLoopback(t *testing.T) {
	t.Parallel()
	for issuer, ok := range map[string]bool{
		"https://login.example.com":             true,
		"https://login.example.com/tenant/v2.0": true,
		"http://localhost:5556":                 true,
		"http://127.0.0.1:5556/dex":             true,
		"http://[::1]:5556":                     true,
		"http://login.example.com":              false,
		"http://10.0.0.5":                       false,
		"http://localhost.example.com":          false,
		"ftp://login.example.com":               false,
		"login.example.com":                     false,
		"https://":                              false,
		"https://user:pw@login.example.com":     false,
		"https://login.example.com/?tenant=a":   false,
		"https://login.example.com/#frag":       false,
		"":                                      false,
	} {
		err := domain.CheckIssuer(issuer)
		if (err == nil) != ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok=%v", issuer, err, ok)
		}
		if e, isApp := apperr.As(err); err != nil && (!isApp || e.Kind != apperr.KindInvalid || e.Field != "provider.issuer") {
			t.Errorf("CheckIssuer(%q): %v is not an invalid provider.issuer", issuer, err)
		}
	}
}

func TestProviderChangeNamesTheField(t *testing.T) {
	t.Parallel()
	good := domain.SSOProviderChange{Issuer: "https://idp.example.com", ClientID: "orgplane"}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for field, c := range map[string]domain.SSOProviderChange{
		"provider.issuer":          {Issuer: "http://idp.example.com", ClientID: "orgplane"},
		"provider.client_id":       {Issuer: "https://idp.example.com", ClientID: "  "},
		"provider.default_role_id": {Issuer: "https://idp.example.com", ClientID: "orgplane", CreateUsers: true},
	} {
		e, ok := apperr.As(c.Check())
		if !ok || e.Kind != apperr.KindInvalid || e.Field != field {
			t.Errorf("%+v: %v, want invalid %s", c, e, field)
		}
	}
}

func TestReturnPathStaysOnThisSite(t *testing.T) {
	t.Parallel()
	if p, err := domain.CheckReturnPath(""); err != nil || p != "/" {
		t.Fatalf("empty: %q %v", p, err)
	}
	for _, p := range []string{"/", "/organizations", "/reviews/42?tab=notes#top", "/caf\u00e9"} {
		if got, err := domain.CheckReturnPath(p); err != nil || got != p {
			t.Errorf("%q: %q %v", p, got, err)
		}
	}
	for _, p := range []string{"//evil.example", "/\\evil.example", "https://evil.example", "organizations", "/a\r\nSet-Cookie: x=1",
		"/a\\b", "/" + strings.Repeat("a", 512), "/\xff"} {
		if _, err := domain.CheckReturnPath(p); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("%q: %v, want refused", p, err)
		}
	}
}

func TestFlowIsRedeemedOnceInItsBrowserBeforeItExpires(t *testing.T) {
	t.Parallel()
	binding, nonce := domain.NewSSOSecret(), domain.NewSSOSecret()
	if len(binding) != 43 || binding == nonce {
		t.Fatalf("secrets %q %q: want 32 random bytes each, base64url", binding, nonce)
	}
	f := domain.NewSSOFlow("f", "a", binding, nonce, []byte{1}, "/", t0, domain.Client{})
	if !f.Expires.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("expires %v", f.Expires)
	}
	if string(f.BindingDigest) == binding || string(f.NonceDigest) == nonce {
		t.Fatal("the flow keeps a secret in clear")
	}
	if err := f.Redeem(binding, t0.Add(9*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		binding string
		at      time.Duration
		used    bool
		want    error
	}{
		"another browser": {binding: domain.NewSSOSecret(), want: domain.ErrSSOOtherBrowser},
		"no cookie":       {binding: "", want: domain.ErrSSOOtherBrowser},
		"expired":         {binding: binding, at: 10 * time.Minute, want: domain.ErrSSOFlowInvalid},
		"used":            {binding: binding, used: true, want: domain.ErrSSOFlowInvalid},
	} {
		g := f
		if c.used {
			g.Used = t0
		}
		if err := g.Redeem(c.binding, t0.Add(c.at)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestClaimsNeedTheFlowsNonceAndAVerifiedEmail(t *testing.T) {
	t.Parallel()
	nonce := domain.NewSSOSecret()
	digest := domain.SSODigest(nonce)
	good := domain.SSOClaims{Email: "ada@contoso.example", EmailVerified: true, Nonce: nonce}
	if err := good.Check(digest); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		claims domain.SSOClaims
		want   *apperr.Error
	}{
		"another nonce": {domain.SSOClaims{Email: good.Email, EmailVerified: true, Nonce: domain.NewSSOSecret()}, domain.ErrSSOTokenRejected},
		"no nonce":      {domain.SSOClaims{Email: good.Email, EmailVerified: true}, domain.ErrSSOTokenRejected},
		"no email":      {domain.SSOClaims{EmailVerified: true, Nonce: nonce}, domain.ErrSSONoEmail},
		"not an email":  {domain.SSOClaims{Email: "ada", EmailVerified: true, Nonce: nonce}, domain.ErrSSONoEmail},
		"unverified":    {domain.SSOClaims{Email: good.Email, Nonce: nonce}, domain.ErrSSOEmailUnverified},
	} {
		err := c.claims.Check(digest)
		if e, ok := apperr.As(err); !ok || e.Reason != c.want.Reason || e.Kind != apperr.KindUnauthenticated {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestUsersCreatedOnFirstSignInHaveBothNames(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		claims      domain.SSOClaims
		first, last string
	}{
		"given and family": {domain.SSOClaims{Email: "ada@x.example", GivenName: "Ada", FamilyName: "Lovelace", Name: "Countess"}, "Ada", "Lovelace"},
		"name only":        {domain.SSOClaims{Email: "ada@x.example", Name: "Ada King Lovelace"}, "Ada King", "Lovelace"},
		"one word":         {domain.SSOClaims{Email: "ada@x.example", Name: "Ada"}, "Ada", "-"},
		"nothing":          {domain.SSOClaims{Email: "ada.l@x.example"}, "ada.l", "-"},
		"too long":         {domain.SSOClaims{Email: "a@x.example", GivenName: strings.Repeat("é", 150), FamilyName: "L"}, strings.Repeat("é", 100), "L"},
	} {
		u := c.claims.NewSSOUser("role")
		if u.FirstName != c.first || u.LastName != c.last || u.RoleID != "role" || u.Email != c.claims.Email || !u.AllOrganizations {
			t.Errorf("%s: %+v", name, u)
		}
		if err := u.Check("user"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProviderRefusalQuotesOnlyStandardCodes(t *testing.T) {
	t.Parallel()
	if err := domain.ProviderRefusal("access_denied"); apperr.KindOf(err) != apperr.KindUnauthenticated || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("access_denied: %v", err)
	}
	forged := "<script>alert(1)</script>"
	if err := domain.ProviderRefusal(forged); apperr.KindOf(err) != apperr.KindUnauthenticated || strings.Contains(err.Error(), "script") {
		t.Fatalf("forged code: %v", err)
	}
}

func TestProviderEndpointsMustBeSecure(t *testing.T) {
	t.Parallel()
	for u, ok := range map[string]bool{
		"https://idp.example.com/token": true, "http://127.0.0.1:9/token": true, "http://idp.example.com/token": false,
		"https://user@idp.example.com/token": false, "/token": false,
	} {
		if domain.ProviderEndpointSecure(u) != ok {
			t.Errorf("%s: want %v", u, ok)
		}
	}
}
