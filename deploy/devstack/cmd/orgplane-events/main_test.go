package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// lockedBuffer is written by the command's goroutine and read by the test's.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFlagsAndCredentialFilesAreCheckedInPlainWords(t *testing.T) {
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-help"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "-creds") {
		t.Errorf("-help: exit %d, usage %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run(ctx, []string{"--version"}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "orgplane-events ") {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
	garbage := filepath.Join(t.TempDir(), "garbage.creds")
	if err := os.WriteFile(garbage, []byte("not a credential\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "-creds is required"},
		{[]string{"-creds", garbage, "-format", "yaml"}, 2, "-format must be json or text"},
		{[]string{"-creds", garbage, "-n", "-1"}, 2, "-n must be 0 or more"},
		{[]string{"-creds", garbage, "-account", "a.b"}, 2, `-account "a.b" is not an account id`},
		{[]string{"-creds", garbage, "-account", uuid.NewString(), "-subject", "orgplane.>"}, 2, "not both"},
		{[]string{"-creds", filepath.Join(t.TempDir(), "missing.creds")}, 1, "cannot read the credential"},
		{[]string{"-creds", garbage}, 1, "is not a NATS credential"},
		{[]string{"-decode", "orgplane.>"}, 2, `-decode "orgplane.>" is not an event subject`},
		{[]string{"-decode", "orgplane.org.v1." + uuid.NewString() + ".widget.created"}, 1, "not the subject of an event this orgplane-events knows"},
	} {
		stderr.Reset()
		if code := run(ctx, tc.args, nil, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.says) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.says)
		}
	}
}

// -decode is the stock nats CLI's --translate command: the payload on stdin, its type found
// from the subject alone (the CLI hands over no headers).
func TestDecodeReadsOnePayloadByItsSubject(t *testing.T) {
	account := uuid.NewString()
	payload, err := proto.Marshal(&orgv1.OrganizationCreated{AccountId: account, Organization: &orgv1.Organization{Name: "Northwind Traders"}})
	if err != nil {
		t.Fatal(err)
	}
	subject := "orgplane.org.v1." + account + ".organization.created"
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-decode", subject}, bytes.NewReader(payload), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got struct {
		AccountID    string `json:"account_id"`
		Organization struct {
			Name string `json:"name"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || got.AccountID != account || got.Organization.Name != "Northwind Traders" ||
		strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("printed %q (%v); want the payload as one JSON line", stdout.String(), err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"-decode", subject}, bytes.NewReader([]byte{0xff}), &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "not a valid orgplane.org.v1.OrganizationCreated") || stdout.Len() != 0 {
		t.Errorf("garbage payload: exit %d, %q, %q", code, stdout.String(), stderr.String())
	}
}

// Against a NATS server with the dev stack's kind of keys: a tenant credential decodes its own
// account's events, sees nothing of another account's, is told in words when it asks for more,
// and an expired one is named as such.
func TestWatchesOnlyItsOwnAccountAndDecodesByTypeHeader(t *testing.T) {
	dir := t.TempDir()
	auth, err := natsserver.LoadAuth(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.Start(natsserver.Options{Dir: dir, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	admin := filepath.Join(dir, "admin.creds")
	if err := auth.WriteCreds(admin, "admin", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(admin))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)

	mine, theirs := uuid.NewString(), uuid.NewString()
	tenant := filepath.Join(dir, "contoso.creds")
	creds, err := auth.TenantCreds(mine, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tenant, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	// No -account: the credential's own account.
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"-creds", tenant, "-server", srv.ClientURL(), "-n", "4"}, nil, stdout, stderr)
	}()
	waitFor(t, stderr, "watching "+events.TenantSubject(mine), done)

	publish := func(account, subject, typ string, data []byte) {
		t.Helper()
		m := nats.NewMsg("orgplane.org.v1." + account + "." + subject)
		if typ != "" {
			m.Header.Set(events.HeaderEventType, typ)
		}
		m.Data = data
		if err := pub.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	created, err := proto.Marshal(&orgv1.OrganizationCreated{EventId: uuid.NewString(), AccountId: mine,
		Organization: &orgv1.Organization{Id: uuid.NewString(), Name: "Northwind Traders"}})
	if err != nil {
		t.Fatal(err)
	}
	publish(theirs, "organization.created", "orgplane.org.v1.OrganizationCreated", created)
	publish(mine, "organization.created", "orgplane.org.v1.OrganizationCreated", created)
	publish(mine, "widget.created", "orgplane.org.v1.WidgetCreated", []byte{1, 2, 3})
	publish(mine, "organization.created", "orgplane.org.v1.OrganizationCreated", []byte{0xff, 0xff})
	publish(mine, "organization.created", "", created)

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit after 4 events; printed %q", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %d lines, want 4 (one per own event):\n%s", len(lines), stdout.String())
	}
	var got []event
	for _, l := range lines {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not one JSON object per line (%v): %s", err, l)
		}
		if !strings.Contains(ev.Subject, "."+mine+".") {
			t.Fatalf("printed another account's event: %s", l)
		}
		got = append(got, ev)
	}
	var payload struct {
		AccountID    string `json:"account_id"`
		Organization struct {
			Name string `json:"name"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(got[0].Payload, &payload); err != nil || got[0].Type != "orgplane.org.v1.OrganizationCreated" ||
		payload.Organization.Name != "Northwind Traders" || payload.AccountID != mine {
		t.Errorf("decoded %s (%v)", lines[0], err)
	}
	for i, note := range map[int]string{1: "not a type this orgplane-events knows", 2: "not a valid orgplane.org.v1.OrganizationCreated",
		3: "no Orgplane-Event-Type header"} {
		if got[i].Payload != nil || !strings.Contains(got[i].Note, note) {
			t.Errorf("line %d: %s; want base64 and a note %q", i+1, lines[i], note)
		}
	}
	if b, err := base64.StdEncoding.DecodeString(got[1].PayloadBase64); err != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Errorf("unknown type's payload %q (%v)", got[1].PayloadBase64, err)
	}

	// The readable form shows the same event.
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	go func() {
		done <- run(context.Background(), []string{"-creds", tenant, "-server", srv.ClientURL(), "-format", "text", "-n", "1",
			"-subject", "orgplane.org.v1." + mine + ".organization.>"}, nil, stdout, stderr)
	}()
	waitFor(t, stderr, "watching", done)
	publish(mine, "organization.created", "orgplane.org.v1.OrganizationCreated", created)
	if code := <-done; code != 0 || !strings.Contains(stdout.String(), "organization.created  orgplane.org.v1.OrganizationCreated\n") ||
		!strings.Contains(stdout.String(), `"name": "Northwind Traders"`) {
		t.Errorf("-format text: exit %d, %q", code, stdout.String())
	}

	for _, args := range [][]string{{"-account", theirs}, {"-subject", "orgplane.>"}} {
		var out, errs bytes.Buffer
		code := run(context.Background(), append([]string{"-creds", tenant, "-server", srv.ClientURL()}, args...), nil, &out, &errs)
		if code != 1 || !strings.Contains(errs.String(), "permission denied") ||
			!strings.Contains(errs.String(), "only allows its own account's subjects ("+events.TenantSubject(mine)+")") ||
			strings.Contains(errs.String(), "watching") || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want the permission error", args, code, out.String(), errs.String())
		}
	}

	expired, err := auth.TenantCreds(mine, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tenant, expired, 0o600); err != nil {
		t.Fatal(err)
	}
	var errs bytes.Buffer
	if code := run(context.Background(), []string{"-creds", tenant, "-server", srv.ClientURL()}, nil, &bytes.Buffer{}, &errs); code != 1 ||
		!strings.Contains(errs.String(), "expired") {
		t.Errorf("expired credential: exit %d, %q", code, errs.String())
	}
	if err := os.WriteFile(tenant, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	errs.Reset()
	if code := run(context.Background(), []string{"-creds", tenant, "-server", "nats://127.0.0.1:1"}, nil, &bytes.Buffer{}, &errs); code != 1 ||
		!strings.Contains(errs.String(), "cannot reach NATS at nats://127.0.0.1:1") {
		t.Errorf("no server: exit %d, %q", code, errs.String())
	}
	// Minted by other keys than the server's: refused at connect, in words.
	other, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.TenantCreds(mine, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tenant, foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	errs.Reset()
	if code := run(context.Background(), []string{"-creds", tenant, "-server", srv.ClientURL()}, nil, &bytes.Buffer{}, &errs); code != 1 ||
		!strings.Contains(errs.String(), "refused the credential") {
		t.Errorf("foreign credential: exit %d, %q", code, errs.String())
	}
}

func waitFor(t *testing.T, stderr *lockedBuffer, want string, done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("exited %d before %q: %s", code, want, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 10 s: %s", want, stderr.String())
		}
	}
}
