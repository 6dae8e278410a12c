package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/identity"
)

func keySpec(t *testing.T, kid string) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return kid + ":" + base64.StdEncoding.EncodeToString(b)
}

// `devstack token` signs with the keys the services verify with: the dev stack's, or the ones
// given; the token is for the one service named and says what the role says.
func TestTokenCommandMintsWhatTheServicesVerify(t *testing.T) {
	t.Setenv("ORGPLANE_IDENTITY_KEYS", "")
	state := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := token([]string{"-state", state, "-role", "operator"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "make run") {
		t.Fatalf("without a dev stack's keys: exit %d, %q; want 1 and a hint", code, stderr.String())
	}

	// The dev stack's keys, as make run keeps them.
	spec := keySpec(t, "dev1")
	creds := "ORGPLANE_OPERATOR_TOKEN=op_x\nORGPLANE_IDENTITY_KEYS=" + spec + "\nORGPLANE_CREDENTIAL_KEYS=" + keySpec(t, "c1") + "\n"
	if err := os.WriteFile(filepath.Join(state, "dev-credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := identity.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	account := uuid.NewString()
	stdout.Reset()
	if code := token([]string{"--state", state, "--account", account, "--role", "admin"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	id, err := kr.VerifyFor(tok, "org")
	if err != nil {
		t.Fatalf("org refuses the admin token: %v", err)
	}
	if id.AccountID != account || id.Kind != identity.KindAPIKey || id.RestrictedToGroups ||
		!id.Has("organizations:write") || !id.Has("api_keys:read") || !id.Has("notifications:write") {
		t.Fatalf("admin token asserts %+v", id)
	}
	if _, err := kr.VerifyFor(tok, "billing"); err == nil {
		t.Fatal("billing accepts a token made for org")
	}

	// Keys from a file holding the production secret's value; the token for the service named.
	file := filepath.Join(t.TempDir(), "identity-keys")
	prod := keySpec(t, "prod2") + "," + spec
	if err := os.WriteFile(file, []byte(prod+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := token([]string{"-keys-file", file, "-role", "operator", "-service", "billing", "-as", "ada"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	prodKeys, _ := identity.ParseKeyring(prod)
	if id, err := prodKeys.VerifyFor(strings.TrimSpace(stdout.String()), "billing"); err != nil || !id.Operator() || id.PrincipalID != "ada" {
		t.Fatalf("operator token: %+v, %v", id, err)
	}
	// The first key signs (rotation): the dev keyring alone, lacking prod2, refuses it.
	if _, err := kr.VerifyFor(strings.TrimSpace(stdout.String()), "billing"); err == nil {
		t.Fatal("signed with the second key, not the first")
	}

	// $ORGPLANE_IDENTITY_KEYS, a service's own identity.
	t.Setenv("ORGPLANE_IDENTITY_KEYS", spec)
	stdout.Reset()
	if code := token([]string{"-state", t.TempDir(), "-role", "service", "-as", "integration-sync"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if id, err := kr.VerifyFor(strings.TrimSpace(stdout.String()), "org"); err != nil || id.Kind != identity.KindService || id.PrincipalID != "integration-sync" {
		t.Fatalf("service token: %+v, %v", id, err)
	}
}

func TestTokenCommandRefusesWhatNoServiceWouldAccept(t *testing.T) {
	t.Setenv("ORGPLANE_IDENTITY_KEYS", keySpec(t, "k1"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-role", "admin"}, "-account"},
		{[]string{"-role", "root"}, "-role"},
		{[]string{}, "-role"},
		{[]string{"-role", "operator", "-account", uuid.NewString()}, "admin role"},
		{[]string{"-role", "operator", "-service", ""}, "-service"},
		{[]string{"-role", "operator", "extra"}, "unexpected"},
	} {
		var stdout, stderr bytes.Buffer
		if code := token(tc.args, &stdout, &stderr); code != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and a message naming %s", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
	}
}
