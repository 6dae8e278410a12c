package notificationsvc_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
)

func TestWithoutARelayTheServiceRefusesToStart(t *testing.T) {
	spec := notificationsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	keys := testkit.Keyring(t)
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = spec.New(context.Background(), platform.Deps{Log: slog.New(slog.DiscardHandler), Pool: db.Pool, Keys: keys, Server: srv})
	if err == nil || !strings.Contains(err.Error(), "ORGPLANE_SMTP_ADDR is required") || !strings.Contains(err.Error(), "ORGPLANE_EMAIL_DISABLED") {
		t.Fatalf("no relay configured: %v", err)
	}
}

func TestItsNATSCredentialAllowsItsConsumers(t *testing.T) {
	p, err := platform.NATSPermissions(context.Background(), notificationsvc.Spec())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(append(p.Publish, p.Subscribe...), " ")
	for _, durable := range []string{"notification-org", "notification-integrations"} {
		if !strings.Contains(joined, durable) {
			t.Errorf("the credential does not name consumer %s: %v", durable, p)
		}
	}
}
