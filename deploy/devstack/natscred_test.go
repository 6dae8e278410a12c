package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
)

// `devstack nats-credential` mints, from the keys a dev stack keeps in its state folder, a
// credential that the stack's NATS accepts for the account's events and for nothing else.
func TestNATSCredentialCommandMintsAReadOnlyTenantCredential(t *testing.T) {
	state := t.TempDir()
	var stderr bytes.Buffer
	if code := natsCredential([]string{"-state", state, "-account", uuid.NewString()}, &bytes.Buffer{}, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "make run") {
		t.Fatalf("without a dev stack's keys: exit %d, %q; want 1 and a hint", code, stderr.String())
	}
	// What the dev stack does when it starts: keep its keys, serve NATS with them.
	auth, err := natsserver.LoadAuth(filepath.Join(state, "nats", "auth"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.Start(natsserver.Options{Dir: filepath.Join(state, "nats"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	account := uuid.NewString()
	out := filepath.Join(t.TempDir(), "tenant.creds")
	if code := natsCredential([]string{"-state", state, "-account", account, "-out", out}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("creds file: %v, %v; want mode 0600", fi, err)
	}
	if !strings.Contains(stderr.String(), "nats sub --creds "+out) {
		t.Errorf("no usage hint: %s", stderr.String())
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(out))
	if err != nil {
		t.Fatalf("the minted credential is refused: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(events.TenantSubject(account))
	if err != nil {
		t.Fatal(err)
	}
	admin := filepath.Join(t.TempDir(), "admin.creds")
	if err := auth.WriteCreds(admin, "admin", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(admin))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{uuid.NewString(), account} {
		if err := pub.Publish("orgplane.org.v1."+a+".organization.created", []byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil || string(m.Data) != account {
		t.Fatalf("tenant received %v, %v; want only its own account's event", m, err)
	}
	// Its only right is that subscription.
	if err := nc.Publish("orgplane.org.v1."+account+".organization.created", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err == nil {
		if _, err := sub.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatal("the tenant's own publish went through")
		}
	}

	for _, bad := range []string{"a.b", "*", ">", "_", "UPPER-CASE"} {
		stderr.Reset()
		if code := natsCredential([]string{"-state", state, "-account", bad}, &bytes.Buffer{}, &stderr); code == 0 {
			t.Errorf("account %q: minted a credential", bad)
		}
	}
	if code := natsCredential([]string{"-state", state}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("no -account: exit %d, want 2", code)
	}
}
