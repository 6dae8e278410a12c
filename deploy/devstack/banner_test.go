package main

import (
	"encoding/json"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// The dev stack's gRPC is plaintext; the banner says so, and says louder when it is not on
// loopback.
func TestBannerSaysHowServicesTalk(t *testing.T) {
	st := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", ServiceAddrs: map[string]string{"org": "127.0.0.1:9101"}}
	for host, want := range map[string]string{
		"127.0.0.1": "gRPC between services: plaintext on loopback",
		"::1":       "gRPC between services: plaintext on loopback",
		"localhost": "gRPC between services: plaintext on loopback",
		"0.0.0.0":   "gRPC between services: PLAINTEXT on 0.0.0.0 (not loopback",
	} {
		var b strings.Builder
		banner(&b, st, host, secrets{operatorToken: "op_x"}, "", ".run/dev-credentials")
		if !strings.Contains(b.String(), want) {
			t.Errorf("host %s: banner lacks %q:\n%s", host, want, b.String())
		}
	}
}

// The banner points at the credentials in the state folder -state named, not the default one.
func TestBannerNamesTheStateFolder(t *testing.T) {
	st := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", ServiceAddrs: map[string]string{"org": "127.0.0.1:9101"}}
	var b strings.Builder
	banner(&b, st, "127.0.0.1", secrets{operatorToken: "op_x"}, "", "/tmp/elsewhere/dev-credentials")
	if !strings.Contains(b.String(), "(kept in /tmp/elsewhere/dev-credentials)") || strings.Contains(b.String(), ".run/") {
		t.Errorf("banner does not name the state folder given:\n%s", b.String())
	}
}

// The banner says how to sign in through the local OpenID Connect provider: its issuer, client
// and person, a PUT that sets it up for an account (valid JSON, the right route) and the POST
// that starts a sign-in.
func TestBannerSaysHowToSignInThroughTheLocalProvider(t *testing.T) {
	st := &stack.Stack{GatewayURL: "http://127.0.0.1:8080", ServiceAddrs: map[string]string{"org": "127.0.0.1:9101"},
		OIDC: &oidcdev.Provider{Issuer: "http://127.0.0.1:5556"}, OIDCClientID: "orgplane-dev", OIDCClientSecret: "sekrit-123"}
	var b strings.Builder
	banner(&b, st, "127.0.0.1", secrets{operatorToken: "op_x", oidcClientSecret: "sekrit-123", oidcPassword: "pw-456"}, "", ".run/dev-credentials")
	out := b.String()
	for _, want := range []string{
		"  OIDC provider  http://127.0.0.1:5556 ",
		"issuer http://127.0.0.1:5556   client id orgplane-dev   client secret sekrit-123",
		"person ada@contoso.example   password pw-456",
		"its secrets are kept in .run/dev-credentials",
		" http://127.0.0.1:8080/v1/singleSignOn:start",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	put := regexp.MustCompile(`curl -s -X PUT -H 'Authorization: Bearer [^']+' -d '([^']+)' http://127\.0\.0\.1:8080/v1/accounts/<account id>/singleSignOnProvider`).FindStringSubmatch(out)
	if put == nil {
		t.Fatalf("banner has no PUT of the account's singleSignOnProvider:\n%s", out)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(put[1]), &body); err != nil {
		t.Fatalf("the PUT's body is not JSON (%v): %s", err, put[1])
	}
	if want := map[string]string{"issuer": "http://127.0.0.1:5556", "clientId": "orgplane-dev", "clientSecret": "sekrit-123"}; !maps.Equal(body, want) {
		t.Errorf("the PUT's body = %v, want %v", body, want)
	}

	// Without a provider (-oidc-port -1) the banner says nothing about single sign-on.
	st.OIDC = nil
	b.Reset()
	banner(&b, st, "127.0.0.1", secrets{operatorToken: "op_x", oidcClientSecret: "sekrit-123", oidcPassword: "pw-456"}, "", ".run/dev-credentials")
	if strings.Contains(b.String(), "OIDC") || strings.Contains(b.String(), "sekrit-123") {
		t.Errorf("banner without a provider mentions it:\n%s", b.String())
	}
}

// The provider's client secret and person's password are made once per state folder and kept
// in dev-credentials with the rest; a folder from before they existed gains them and keeps
// everything it had (the credential keys above all: they encrypt stored secrets).
func TestDevSecretsKeepTheSSOCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev-credentials")
	first, err := devSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.oidcClientSecret) < 24 || len(first.oidcPassword) < 12 || first.oidcClientSecret == first.oidcPassword {
		t.Fatalf("generated client secret %q and password %q", first.oidcClientSecret, first.oidcPassword)
	}
	again, err := devSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second run: %+v, want the kept %+v", again, first)
	}
	if other, _ := devSecrets(filepath.Join(t.TempDir(), "dev-credentials")); other.oidcClientSecret == first.oidcClientSecret || other.oidcPassword == first.oidcPassword {
		t.Error("another state folder got the same SSO credentials")
	}

	old := "ORGPLANE_OPERATOR_TOKEN=op_old\nORGPLANE_IDENTITY_KEYS=dev1:a2V5\nORGPLANE_CREDENTIAL_KEYS=dev1:Y3JlZA==\n" +
		"ORGPLANE_DEV_ACCOUNT_ID=acc\nORGPLANE_DEV_ADMIN_KEY=key\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	upgraded, err := devSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	if upgraded.operatorToken != "op_old" || upgraded.identityKeys != "dev1:a2V5" || upgraded.credentialKeys != "dev1:Y3JlZA==" ||
		upgraded.accountID != "acc" || upgraded.adminKey != "key" || upgraded.oidcClientSecret == "" || upgraded.oidcPassword == "" {
		t.Errorf("an older file became %+v", upgraded)
	}
	if kept, _ := devSecrets(path); kept != upgraded {
		t.Errorf("after the upgrade: %+v, want %+v", kept, upgraded)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dev-credentials mode: %v %v, want 0600", fi.Mode(), err)
	}
}

// -oidc-port moves the provider, and so does its variable; its default is fixed so that the
// issuer an account was set up with stays valid across runs.
func TestOIDCPortFlagAndVariable(t *testing.T) {
	o, err := parseFlags(nil, env(nil), nil)
	if err != nil || o.oidcPort != 5556 {
		t.Fatalf("default -oidc-port = %d (%v), want 5556", o.oidcPort, err)
	}
	if o, _ = parseFlags(nil, env(map[string]string{"ORGPLANE_DEV_OIDC_PORT": "-1"}), nil); o.oidcPort != -1 {
		t.Errorf("ORGPLANE_DEV_OIDC_PORT=-1 gave %d", o.oidcPort)
	}
	if o, _ = parseFlags([]string{"-oidc-port", "5600"}, env(map[string]string{"ORGPLANE_DEV_OIDC_PORT": "-1"}), nil); o.oidcPort != 5600 {
		t.Errorf("-oidc-port 5600 over the variable gave %d", o.oidcPort)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	o, err = parseFlags([]string{"-gateway-port", "0", "-service-base-port", "0", "-admin-port", "0", "-nats-port", "0",
		"-simulator-base-port", "0", "-mail-port", "0", "-smtp-port", "0", "-oidc-port", strconv.Itoa(port)}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = checkPorts("127.0.0.1", o)
	if err == nil || !strings.Contains(err.Error(), "(OIDC provider) is already in use") || !strings.Contains(err.Error(), "-oidc-port or ORGPLANE_DEV_OIDC_PORT moves it") {
		t.Errorf("busy OIDC port: %v", err)
	}
}
