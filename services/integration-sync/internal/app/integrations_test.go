package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// dumpSchema renders every row of every table of the service's schema (the outbox included) as
// text, as a database dump would hold it.
func dumpSchema(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'integration_sync'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM integration_sync.%s t`, pgx.Identifier{tb}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(vals, "\n"))
	}
	return b.String()
}

// Credentials are write-only, encrypted at rest, never logged; one sealed under an old key
// still opens after a new key is added, and rotation reseals it under the new one.
func TestCredentialsAreEncryptedWriteOnlyAndRotatable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{})
	secretsInClear := []string{simulators.ConnectWisePrivateKey, simulators.ConnectWisePublicKey, simulators.ConnectWiseClientID,
		simulators.ConnectWiseCompanyID, simulators.WebhookSecret}

	res, err := svc.TestIntegration(w.ctx(), w.account, integ.ID)
	if err != nil || !res.OK {
		t.Fatalf("test connection: %v %+v", err, res)
	}
	if res.View.State != domain.StateConnected {
		t.Fatalf("state %v after a good test", res.View.State)
	}
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	w.waitOperation(svc, op.ID, 30*time.Second, nil)

	got, err := svc.GetIntegration(w.ctx(), w.account, integ.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown := fmt.Sprintf("%+v", got)
	dump := dumpSchema(t, w.db.URL)
	logs := w.logs.String()
	for _, s := range secretsInClear {
		for where, text := range map[string]string{"response": shown, "database": dump, "logs": logs} {
			if strings.Contains(text, s) {
				t.Errorf("credential %q… in clear in the %s", s[:4], where)
			}
		}
	}
	if len(got.Credentials) != 6 {
		t.Fatalf("credential status: %+v", got.Credentials)
	}
	for _, c := range got.Credentials {
		if !c.Set || c.Updated.IsZero() {
			t.Errorf("credential status %+v", c)
		}
	}

	// Rotation: a new key is added (newest last); the old credentials still open.
	w.keys = w.keys + "," + secrets.GenerateSpec("k2")
	svc2 := w.service(false)
	if res, err := svc2.TestIntegration(w.ctx(), w.account, integ.ID); err != nil || !res.OK {
		t.Fatalf("after adding a key: %v %+v", err, res)
	}
	n, err := svc2.Rotate(context.Background())
	if err != nil || n != 6 {
		t.Fatalf("rotate: %d, %v (want 6 resealed)", n, err)
	}
	if n, err := svc2.Rotate(context.Background()); err != nil || n != 0 {
		t.Fatalf("second rotate: %d, %v (want nothing to do)", n, err)
	}
	// With only the new key, everything still opens.
	_, k2, _ := strings.Cut(w.keys, ",")
	w.keys = k2
	svc3 := w.service(false)
	if res, err := svc3.TestIntegration(w.ctx(), w.account, integ.ID); err != nil || !res.OK {
		t.Fatalf("with only the new key: %v %+v", err, res)
	}
}

// A tool refusing the credentials marks the integration CREDENTIALS_REJECTED with the tool's own
// message, and refreshes are refused until the credentials are updated.
func TestRejectedCredentialsStopTheIntegration(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	for _, kind := range []string{"itglue", "connectwise", "autotask"} {
		integ := w.connect(svc, kind, domain.BudgetPolicy{})
		w.sim(kind).Faults.SetRejectCredentials(true)
		res, err := svc.TestIntegration(w.ctx(), w.account, integ.ID)
		if err != nil || res.OK || res.Message == "" {
			t.Fatalf("%s: test with refused credentials: %v %+v", kind, err, res)
		}
		if res.View.State != domain.StateCredentialsRejected || res.View.StateMessage != res.Message {
			t.Fatalf("%s: state %v %q", kind, res.View.State, res.View.StateMessage)
		}
		if _, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull); !errors.Is(err, domain.ErrCredentialsRejected) {
			t.Fatalf("%s: refresh of a rejected integration: %v", kind, err)
		}
		// Updating the credentials lifts the stop; the tool accepts them again.
		w.sim(kind).Faults.SetRejectCredentials(false)
		cred := map[string]string{"itglue": "apiKey", "connectwise": "privateKey", "autotask": "secret"}[kind]
		val := map[string]string{"itglue": simulators.ITGlueAPIKey, "connectwise": simulators.ConnectWisePrivateKey, "autotask": simulators.AutotaskSecret}[kind]
		v, err := svc.UpdateIntegration(w.ctx(), w.account, integ.ID, app.IntegrationInput{Credentials: map[string]string{cred: val}},
			[]string{"credentials." + cred})
		if err != nil || v.State != domain.StateUntested {
			t.Fatalf("%s: update credentials: %v %v", kind, err, v.State)
		}
		if res, err := svc.TestIntegration(w.ctx(), w.account, integ.ID); err != nil || !res.OK {
			t.Fatalf("%s: test after update: %v %+v", kind, err, res)
		}
	}
}

// Bad input names the field as the REST client spells it.
func TestIntegrationInputErrorsNameTheField(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(false)
	for _, tc := range []struct {
		in    app.IntegrationInput
		field string
	}{
		{app.IntegrationInput{Kind: "halo"}, "kind"},
		{app.IntegrationInput{Kind: "itglue"}, "credentials.apiKey"},
		{app.IntegrationInput{Kind: "itglue", Credentials: map[string]string{"apiKey": "k", "password": "x"}}, "credentials.password"},
		{app.IntegrationInput{Kind: "itglue", Settings: map[string]string{"apiKey": "k"}}, "settings.apiKey"},
		{app.IntegrationInput{Kind: "generic", Credentials: map[string]string{"authValue": "x"}}, "settings.listUrl"},
	} {
		_, err := svc.CreateIntegration(w.ctx(), w.account, tc.in)
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.KindInvalid || ae.Field != tc.field {
			t.Errorf("%+v: got %v, want InvalidArgument naming %s", tc.in, err, tc.field)
		}
	}
	w.connect(svc, "itglue", domain.BudgetPolicy{})
	_, err := svc.CreateIntegration(w.ctx(), w.account, app.IntegrationInput{Kind: "itglue", Credentials: map[string]string{"apiKey": "k"}})
	if !errors.Is(err, domain.ErrKindTaken) {
		t.Fatalf("second IT Glue integration: %v", err)
	}
}

// Another account never reaches an integration or operation: every use case answers as for one
// that does not exist.
func TestAnotherAccountsIntegrationIsNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(false)
	integ := w.connect(svc, "itglue", domain.BudgetPolicy{})
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	other := uuid.NewString()
	ctx := as(other)
	calls := map[string]func() error{
		"GetIntegration": func() error { _, err := svc.GetIntegration(ctx, other, integ.ID); return err },
		"UpdateIntegration": func() error {
			_, err := svc.UpdateIntegration(ctx, other, integ.ID, app.IntegrationInput{DisplayName: "x"}, []string{"displayName"})
			return err
		},
		"DeleteIntegration":  func() error { return svc.DeleteIntegration(ctx, other, integ.ID) },
		"TestIntegration":    func() error { _, err := svc.TestIntegration(ctx, other, integ.ID); return err },
		"RefreshIntegration": func() error { _, err := svc.RefreshIntegration(ctx, other, integ.ID, 0); return err },
		"GetOperation":       func() error { _, err := svc.GetOperation(ctx, other, op.ID); return err },
		"CancelOperation":    func() error { _, err := svc.CancelOperation(ctx, other, op.ID); return err },
		"ListExternalOrganizations": func() error {
			_, _, _, err := svc.ListExternalOrganizations(ctx, app.ExternalQuery{AccountID: other, IntegrationID: integ.ID})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("%s on another account's integration: %v, want NotFound", name, err)
		}
	}
	list, _, err := svc.ListIntegrations(ctx, other, 0, "")
	if err != nil || len(list) != 0 {
		t.Fatalf("other account lists %d integrations (%v)", len(list), err)
	}
	ops, _, err := svc.ListOperations(ctx, other, "", 0, "")
	if err != nil || len(ops) != 0 {
		t.Fatalf("other account lists %d operations (%v)", len(ops), err)
	}
	orphans, _, total, err := svc.ListOrphans(ctx, other, 0, "")
	if err != nil || len(orphans) != 0 || total != 0 {
		t.Fatalf("other account sees orphans: %d %d %v", len(orphans), total, err)
	}
}
