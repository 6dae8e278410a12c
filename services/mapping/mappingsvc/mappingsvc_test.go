package mappingsvc_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := mappingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	testkit.RequireTenantTablesProtected(t, db, testkit.Outbox, testkit.Exception{Table: "import_queue",
		Reason: "the import worker finds due imports of every account before it knows a tenant; ids and timing only"})
}

// The mapping-links consumer drops exactly the deleted organization's links, once, whatever
// the redeliveries.
func TestDeletedOrganizationLosesItsLinks(t *testing.T) {
	ctx := context.Background()
	spec := mappingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	log := slog.New(slog.DiscardHandler)
	srv, err := rpc.NewServer(log, testkit.Keyring(t))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := spec.New(ctx, platform.Deps{Log: log, Pool: db.Pool, Server: srv, Keys: testkit.Keyring(t), Peers: map[string]*grpc.ClientConn{"org": nil, "integration-sync": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Consumers) == 0 || parts.Consumers[0].Durable != "mapping-links" {
		t.Fatalf("consumers %+v, want mapping-links", parts.Consumers)
	}
	c, err := events.NewConsumer(nil, db.Pool, log, parts.Consumers[0])
	if err != nil {
		t.Fatal(err)
	}
	account, gone, kept := uuid.NewString(), uuid.NewString(), uuid.NewString()
	err = postgres.InTenantTx(ctx, db.Pool, account, func(tx pgx.Tx) error {
		for _, org := range []string{gone, kept} {
			_, err := tx.Exec(ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id,
				method, created_by, created_at) VALUES ($1, $2, $3, $4, 1, 'test', $5)`, account, org, uuid.NewString(), org, time.Now())
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := &orgv1.OrganizationDeleted{EventId: uuid.NewString(), AccountId: account, OrganizationId: gone}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	d := events.Delivery{EventID: ev.GetEventId(), AccountID: account, Subject: "orgplane.org.v1." + account + ".organization.deleted",
		Type: "orgplane.org.v1.OrganizationDeleted", Data: data}
	for i, want := range []bool{true, false} { // the second delivery is a redelivery
		applied, err := c.Apply(ctx, d)
		if err != nil || applied != want {
			t.Fatalf("delivery %d: applied %v, %v; want %v", i+1, applied, err, want)
		}
	}
	var left []string
	err = postgres.InTenantTx(ctx, db.Pool, account, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT organization_id::text FROM links`)
		if err != nil {
			return err
		}
		left, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != kept {
		t.Fatalf("links left: %v, want only %s's", left, kept)
	}
}
