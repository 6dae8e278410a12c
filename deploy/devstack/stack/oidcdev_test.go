package stack_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// The stack runs an OpenID Connect provider on its host where Orgplane's client is registered
// with the gateway's callback as redirect URI and the stack's secret, and the people the options
// give can sign in; it stops with the stack.
func TestStackRunsAnOIDCProviderForSingleSignOn(t *testing.T) {
	ada := oidcdev.User{Email: "ada@contoso.example", Password: "pw-for-ada", GivenName: "Ada", FamilyName: "Admin", EmailVerified: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		Log: testLog(), DatabaseURL: testkit.EmptyDB(t), NATSDir: t.TempDir(), Host: "127.0.0.1",
		AdminPort: -1, Keys: testkit.Keyring(t), OperatorToken: operatorToken,
		OIDCClientSecret: "stack-client-secret", OIDCUsers: []oidcdev.User{ada},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			_ = st.Wait()
		}
	}()
	if st.OIDC == nil || st.OIDCClientID != stack.OIDCClientID || st.OIDCClientSecret != "stack-client-secret" {
		t.Fatalf("stack OIDC %v, client %q / %q", st.OIDC, st.OIDCClientID, st.OIDCClientSecret)
	}
	if !strings.HasPrefix(st.OIDC.Issuer, "http://127.0.0.1:") {
		t.Errorf("issuer %q, want on the stack's host", st.OIDC.Issuer)
	}
	var discovery struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	resp, err := http.Get(st.OIDC.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&discovery)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	callback := st.GatewayURL + stack.SingleSignOnCallbackPath
	verifier := "a-verifier-long-enough-for-pkce-0123456789abcdef"
	sum := sha256.Sum256([]byte(verifier))
	auth := discovery.Authorization + "?" + url.Values{
		"response_type": {"code"}, "client_id": {stack.OIDCClientID}, "redirect_uri": {callback},
		"scope": {"openid email profile"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	back, err := st.OIDC.Authorize(t.Context(), auth, ada.Email, ada.Password)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(back)
	code := u.Query().Get("code")
	if !strings.HasPrefix(back, callback+"?") || code == "" || u.Query().Get("state") != "st-1" {
		t.Fatalf("signed in: sent to %s, want the gateway's callback %s with a code", back, callback)
	}
	// The stack's client secret redeems it.
	tok, err := http.PostForm(discovery.Token, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {callback}, "code_verifier": {verifier},
		"client_id": {stack.OIDCClientID}, "client_secret": {"stack-client-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	tok.Body.Close()
	if tok.StatusCode != http.StatusOK {
		t.Errorf("token endpoint: %d, want 200 for the stack's client and secret", tok.StatusCode)
	}

	issuer := strings.TrimPrefix(st.OIDC.Issuer, "http://")
	cancel()
	stopped = true
	if err := st.Wait(); err != nil {
		t.Fatalf("stack stopped with %v", err)
	}
	if c, err := net.Dial("tcp", issuer); err == nil {
		c.Close()
		t.Error("the OIDC provider still accepts connections after the stack stopped")
	}
}

// OIDCPort -1 runs no provider.
func TestStackWithoutOIDCProvider(t *testing.T) {
	s := startStack(t, func(o *stack.Options) { o.OIDCPort = -1 })
	if s.st.OIDC != nil || s.st.OIDCClientSecret != "" {
		t.Errorf("OIDCPort -1: provider %v, secret %q", s.st.OIDC, s.st.OIDCClientSecret)
	}
}
