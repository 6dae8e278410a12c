package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// docs/events.md's "Watch your events" recipe, run as written against the real suite: the
// account's read-only credential minted by `go run ./deploy/devstack nats-credential`, then
// orgplane-events with it prints the organization created over REST as one decoded JSON line;
// the same credential aimed at another account's subjects is refused in words and prints
// nothing.
func TestWatchYourEventsRecipeDecodesAnAccountsEventWithItsCredential(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "orgplane-events")
	goCmd(t, repo, "build", "-o", bin, "./deploy/devstack/cmd/orgplane-events")

	// `make run` keeps NATS under <state>/nats, where `nats-credential -state` finds its keys.
	state := t.TempDir()
	w := &world{suite: startStack(t, func(o *stack.Options) { o.NATSDir = filepath.Join(state, "nats") })}
	tap, err := nats.Connect(w.st.NATSURL, nats.UserCredentials(w.st.NATSAdminCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tap.Close)
	if _, err := tap.Subscribe("orgplane.>", func(m *nats.Msg) {
		w.mu.Lock()
		w.events = append(w.events, m)
		w.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	contoso, fabrikam := w.newMSP("Contoso MSP"), w.newMSP("Fabrikam IT")
	// A new account's own events (and billing's trial) are out before watching starts, so the
	// first event the watcher can see is the organization's.
	for _, a := range []msp{contoso, fabrikam} {
		event(w, "orgplane.org.v1."+a.id+".account.created", func() *orgv1.AccountCreated { return &orgv1.AccountCreated{} },
			func(*orgv1.AccountCreated) bool { return true })
		event(w, "orgplane.org.v1."+a.id+".user.created", func() *orgv1.UserCreated { return &orgv1.UserCreated{} },
			func(*orgv1.UserCreated) bool { return true })
		event(w, "orgplane.billing.v1."+a.id+".subscription.changed",
			func() *billingv1.SubscriptionChanged { return &billingv1.SubscriptionChanged{} },
			func(*billingv1.SubscriptionChanged) bool { return true })
	}

	creds := filepath.Join(t.TempDir(), "contoso.creds")
	goCmd(t, repo, "run", "./deploy/devstack", "nats-credential", "-state", state, "-account", contoso.id, "-out", creds)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watcher := exec.CommandContext(ctx, bin, "-creds", creds, "-server", w.st.NATSURL, "-n", "1")
	var stdout bytes.Buffer
	watcher.Stdout = &stdout
	stderrPipe, err := watcher.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	// It subscribes live, so the organization is created only once it says it is watching.
	watching := make(chan struct{})
	var stderr strings.Builder
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "watching orgplane.*.v1."+contoso.id+".>") {
				close(watching)
			}
		}
	}()
	select {
	case <-watching:
	case <-stderrDone:
		_ = watcher.Wait()
		t.Fatalf("orgplane-events ended before watching: %s", stderr.String())
	case <-ctx.Done():
		t.Fatal("orgplane-events never said it was watching")
	}
	org := w.createOrg(contoso, contoso.adminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	<-stderrDone
	if err := watcher.Wait(); err != nil {
		t.Fatalf("orgplane-events -n 1: %v (printed %q)\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("printed %d lines, want one JSON line:\n%s", len(lines), stdout.String())
	}
	var got struct {
		Subject string `json:"subject"`
		Type    string `json:"type"`
		Payload struct {
			AccountID    string `json:"account_id"`
			Organization struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"organization"`
		} `json:"payload"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("not a JSON line (%v): %s", err, lines[0])
	}
	if got.Subject != "orgplane.org.v1."+contoso.id+".organization.created" || got.Type != "orgplane.org.v1.OrganizationCreated" ||
		got.Payload.AccountID != contoso.id || got.Payload.Organization.ID != org || got.Payload.Organization.Name != "Northwind Traders" {
		t.Fatalf("printed %s; want organization %s's organization.created, decoded", lines[0], org)
	}

	// The same credential aimed at another account.
	stdout.Reset()
	var refused bytes.Buffer
	other := exec.CommandContext(ctx, bin, "-creds", creds, "-server", w.st.NATSURL, "-account", fabrikam.id)
	other.Stdout, other.Stderr = &stdout, &refused
	err = other.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		!strings.Contains(refused.String(), "permission denied") ||
		!strings.Contains(refused.String(), "this credential only allows its own account's subjects (orgplane.*.v1."+contoso.id+".>)") ||
		stdout.Len() != 0 {
		t.Fatalf("watching %s with %s's credential: %v, printed %q, said %q; want exit 1 and the permission error",
			fabrikam.id, contoso.id, err, stdout.String(), refused.String())
	}
}

// goCmd runs the go command in the repository, as the docs' recipes do.
func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
