package integrationsyncsvc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// `integration-sync rotate`, run as the operator would after appending a key: every credential
// is resealed under the newest key, and the service then runs with the new key alone.
func TestRotateCommandResealsUnderTheNewestKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs integration-sync as a process")
	}
	t.Parallel()
	spec := integrationsyncsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	oldKey, newKey := secrets.GenerateSpec("old"), secrets.GenerateSpec("new")
	svc := appWithoutWorkers(t, db, oldKey)
	var integrations []app.IntegrationView
	for range 3 {
		account := uuid.NewString()
		ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k",
			AccountID: account, Permissions: []string{domain.PermWrite}})
		v, err := svc.CreateIntegration(ctx, account, app.IntegrationInput{Kind: "itglue", Endpoint: "http://127.0.0.1:9",
			Credentials: map[string]string{"apiKey": "rotate-me-" + account[:8], "region": "eu"}})
		if err != nil {
			t.Fatal(err)
		}
		integrations = append(integrations, v)
	}
	identityKey := make([]byte, 32)
	_, _ = rand.Read(identityKey)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=1m")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_COMMAND=rotate",
		"ORGPLANE_DATABASE_URL="+db.URL,
		"ORGPLANE_IDENTITY_KEYS=test:"+base64.StdEncoding.EncodeToString(identityKey),
		"ORGPLANE_CREDENTIAL_KEYS="+oldKey+","+newKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	for _, secret := range []string{"rotate-me-", base64.StdEncoding.EncodeToString([]byte("rotate-me-"))} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("the rotate command printed a credential:\n%s", out)
		}
	}

	conn, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var total, underNew int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE key_id = 'new')
		FROM integration_sync.integration_credentials`).Scan(&total, &underNew); err != nil {
		t.Fatal(err)
	}
	if total != 6 || underNew != 6 {
		t.Fatalf("%d of %d credentials under the new key after rotate, want 6 of 6", underNew, total)
	}
	// With the old key gone, every credential still opens: a connection test gets as far as the
	// tool (which does not answer here).
	fresh := appWithoutWorkers(t, db, newKey)
	for _, in := range integrations {
		ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k",
			AccountID: in.AccountID, Permissions: []string{domain.PermWrite, domain.PermRead}})
		res, err := fresh.TestIntegration(ctx, in.AccountID, in.ID)
		if err != nil || !strings.Contains(res.Message, "connection refused") {
			t.Fatalf("with only the new key: %v %q", err, res.Message)
		}
	}
	// And with only the old one, none does.
	stale := appWithoutWorkers(t, db, oldKey)
	in := integrations[0]
	ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k",
		AccountID: in.AccountID, Permissions: []string{domain.PermWrite, domain.PermRead}})
	if _, err := stale.TestIntegration(ctx, in.AccountID, in.ID); err == nil {
		t.Fatal("credentials resealed under the new key opened with the old one alone")
	}
}
