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
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
)

// syncHarness is the mapping service's consumers over a fresh database, fed events the way
// JetStream hands them over (Consumer.Apply), for one account and one PSA integration.
type syncHarness struct {
	t           *testing.T
	ctx         context.Context
	db          *testkit.DB
	inspect     *pgx.Conn // superuser: reads the outbox and across row-level security
	consumers   map[string]*events.Consumer
	account     string
	integration string
}

func newSyncHarness(t *testing.T) *syncHarness {
	t.Helper()
	ctx := context.Background()
	spec := mappingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	log := slog.New(slog.DiscardHandler)
	srv, err := rpc.NewServer(log, testkit.Keyring(t))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := spec.New(ctx, platform.Deps{Log: log, Pool: db.Pool, Server: srv, Keys: testkit.Keyring(t),
		Peers: map[string]*grpc.ClientConn{"org": nil, "integration-sync": nil}})
	if err != nil {
		t.Fatal(err)
	}
	h := &syncHarness{t: t, ctx: ctx, db: db, consumers: map[string]*events.Consumer{},
		account: uuid.NewString(), integration: uuid.NewString()}
	for _, cs := range parts.Consumers {
		if h.consumers[cs.Durable], err = events.NewConsumer(nil, db.Pool, log, cs); err != nil {
			t.Fatal(err)
		}
	}
	if h.inspect, err = pgx.Connect(ctx, db.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.inspect.Close(context.Background()) })
	return h
}

// deliver hands ev to the durable consumer and reports whether it was applied (false: a
// redelivery of an event already applied).
func (h *syncHarness) deliver(durable string, ev proto.Message) bool {
	h.t.Helper()
	kind, err := events.KindOf(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	subject, err := kind.SubjectFor(h.account)
	if err != nil {
		h.t.Fatal(err)
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	m := ev.ProtoReflect()
	eventID := m.Get(m.Descriptor().Fields().ByName("event_id")).String()
	c, ok := h.consumers[durable]
	if !ok {
		h.t.Fatalf("no consumer %s", durable)
	}
	applied, err := c.Apply(h.ctx, events.Delivery{EventID: eventID, AccountID: h.account, Subject: subject,
		Type: string(kind.Type), Data: data, Attempt: 1})
	if err != nil {
		h.t.Fatalf("apply %s: %v", subject, err)
	}
	return applied
}

// company is the PSA company externalID as integration-sync's events carry it.
func (h *syncHarness) company(externalID, name string) *integrationsyncv1.ExternalOrganization {
	return &integrationsyncv1.ExternalOrganization{IntegrationId: h.integration, IntegrationKind: "connectwise",
		ExternalId: externalID, Name: name}
}

func (h *syncHarness) created(externalID, linkOrganizationID string) *integrationsyncv1.ExternalOrganizationCreated {
	return &integrationsyncv1.ExternalOrganizationCreated{EventId: uuid.NewString(), AccountId: h.account,
		ExternalOrganization: h.company(externalID, "Company "+externalID), LinkOrganizationId: linkOrganizationID}
}

// organization gives mapping its copy of a new organization, as org's event would.
func (h *syncHarness) organization(name string) string {
	h.t.Helper()
	id := uuid.NewString()
	h.deliver("mapping-organizations", &orgv1.OrganizationCreated{EventId: uuid.NewString(), AccountId: h.account,
		Organization: &orgv1.Organization{Id: id, Name: name, State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE}})
	return id
}

// linkByHand stores a link a person made in the grid.
func (h *syncHarness) linkByHand(organizationID, externalID string) {
	h.t.Helper()
	err := postgres.InTenantTx(h.ctx, h.db.Pool, h.account, func(tx pgx.Tx) error {
		_, err := tx.Exec(h.ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id,
			method, created_by, created_at) VALUES ($1, $2, $3, $4, 1, 'user:ada', $5)`, h.account, organizationID, h.integration, externalID, time.Now())
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

type storedLink struct {
	Organization, External string
	Method                 int16
	CreatedBy              string
}

// links reads the integration's links, by external organization.
func (h *syncHarness) links() map[string]storedLink {
	h.t.Helper()
	rows, err := h.inspect.Query(h.ctx, `SELECT organization_id::text, external_organization_id, method, created_by
		FROM mapping.links WHERE integration_id = $1`, h.integration)
	if err != nil {
		h.t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storedLink])
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]storedLink{}
	for _, l := range list {
		out[l.External] = l
	}
	return out
}

// published decodes the events of one kind in the outbox, in order.
func published[T proto.Message](h *syncHarness, newT func() T) []T {
	h.t.Helper()
	kind, err := events.KindOf(newT())
	if err != nil {
		h.t.Fatal(err)
	}
	subject, _ := kind.SubjectFor(h.account)
	rows, err := h.inspect.Query(h.ctx, `SELECT payload FROM mapping.outbox WHERE subject = $1 ORDER BY seq`, subject)
	if err != nil {
		h.t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]T, len(payloads))
	for i, p := range payloads {
		out[i] = newT()
		if err := proto.Unmarshal(p, out[i]); err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

func linkedEvents(h *syncHarness) []*mappingv1.MappingLinked {
	return published(h, func() *mappingv1.MappingLinked { return &mappingv1.MappingLinked{} })
}

func unlinkedEvents(h *syncHarness) []*mappingv1.MappingUnlinked {
	return published(h, func() *mappingv1.MappingUnlinked { return &mappingv1.MappingUnlinked{} })
}

func (h *syncHarness) version(organizationID string) int64 {
	h.t.Helper()
	var v int64
	if err := h.inspect.QueryRow(h.ctx, `SELECT version FROM mapping.organizations WHERE id = $1`, organizationID).Scan(&v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *syncHarness) externalKnown(externalID string) bool {
	h.t.Helper()
	var ok bool
	if err := h.inspect.QueryRow(h.ctx, `SELECT EXISTS (SELECT 1 FROM mapping.external_organizations
		WHERE integration_id = $1 AND external_id = $2)`, h.integration, externalID).Scan(&ok); err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// A company the PSA sync made for an organization is linked to it once, as made by sync, with
// one mapping.linked, however often the event is delivered and whichever later event names the
// pair again; an organization mapping has no copy of yet is linked all the same.
func TestSyncLinkIsMadeOnce(t *testing.T) {
	h := newSyncHarness(t)
	org := h.organization("Contoso")
	ev := h.created("101", org)
	for i, want := range []bool{true, false} { // the second delivery is a redelivery
		if got := h.deliver("mapping-externals", ev); got != want {
			t.Fatalf("delivery %d: applied %v, want %v", i+1, got, want)
		}
	}
	again := &integrationsyncv1.ExternalOrganizationChanged{EventId: uuid.NewString(), AccountId: h.account,
		ExternalOrganization: h.company("101", "Contoso Ltd"), LinkOrganizationId: org}
	if !h.deliver("mapping-externals", again) {
		t.Fatal("the change naming the same pair was not applied")
	}
	want := storedLink{Organization: org, External: "101", Method: int16(mappingv1.LinkMethod_LINK_METHOD_SYNC), CreatedBy: "integration-sync"}
	if got := h.links(); len(got) != 1 || got["101"] != want {
		t.Fatalf("links %+v, want only %+v", got, want)
	}
	linked := linkedEvents(h)
	if len(linked) != 1 {
		t.Fatalf("%d mapping.linked events, want 1", len(linked))
	}
	if l := linked[0].GetLink(); l.GetOrganizationId() != org || l.GetExternalOrganizationId() != "101" ||
		l.GetMethod() != mappingv1.LinkMethod_LINK_METHOD_SYNC || l.GetCreatedBy() != "integration-sync" || l.GetId() == "" {
		t.Fatalf("mapping.linked carries %v", l)
	}
	if v := h.version(org); v != 1 {
		t.Fatalf("grid row version %d, want 1 (one bump for the one link)", v)
	}

	// org's event of the organization has not reached mapping yet.
	unknown := uuid.NewString()
	h.deliver("mapping-externals", h.created("102", unknown))
	if got := h.links()["102"]; got.Organization != unknown {
		t.Fatalf("company 102 linked to %q, want the organization not known yet %s", got.Organization, unknown)
	}
	if n := len(linkedEvents(h)); n != 2 {
		t.Fatalf("%d mapping.linked events, want 2", n)
	}
}

// A person's (or an import's) link wins: the sync links neither an organization linked in the
// integration already nor a company linked to another organization; the company's copy is kept.
func TestSyncLinkYieldsToExistingLinks(t *testing.T) {
	h := newSyncHarness(t)
	mapped, other, third := h.organization("Mapped"), h.organization("Other"), h.organization("Third")
	h.linkByHand(mapped, "1")
	h.linkByHand(other, "2")

	h.deliver("mapping-externals", h.created("3", mapped)) // the organization is linked in the integration
	h.deliver("mapping-externals", h.created("2", third))  // the company is linked to another organization

	got := h.links()
	if len(got) != 2 || got["1"].Organization != mapped || got["2"].Organization != other || got["1"].Method != 1 || got["2"].Method != 1 {
		t.Fatalf("links %+v, want only the two made by hand", got)
	}
	if n := len(linkedEvents(h)); n != 0 {
		t.Fatalf("%d mapping.linked events, want none", n)
	}
	if !h.externalKnown("3") {
		t.Fatal("company 3's copy was not kept")
	}
	for _, org := range []string{mapped, other, third} {
		if v := h.version(org); v != 0 {
			t.Fatalf("grid row %s version %d, want 0 (nothing changed)", org, v)
		}
	}
}

// An organization org deleted is not linked, even when the sync's event comes after mapping
// forgot it; one deleted after it was linked loses the link as any other.
func TestSyncLinkSkipsDeletedOrganization(t *testing.T) {
	h := newSyncHarness(t)
	gone := h.organization("Gone")
	deleted := &orgv1.OrganizationDeleted{EventId: uuid.NewString(), AccountId: h.account, OrganizationId: gone}
	h.deliver("mapping-links", deleted)
	h.deliver("mapping-organizations", deleted)

	h.deliver("mapping-externals", h.created("7", gone))
	if got := h.links(); len(got) != 0 {
		t.Fatalf("links %+v, want none: the organization was deleted", got)
	}
	if n := len(linkedEvents(h)); n != 0 {
		t.Fatalf("%d mapping.linked events, want none", n)
	}

	late := h.organization("Late")
	h.deliver("mapping-externals", h.created("8", late))
	h.deliver("mapping-links", &orgv1.OrganizationDeleted{EventId: uuid.NewString(), AccountId: h.account, OrganizationId: late})
	if got := h.links(); len(got) != 0 {
		t.Fatalf("links %+v, want none after the linked organization's deletion", got)
	}
	if u := unlinkedEvents(h); len(u) != 1 || u[0].GetLink().GetOrganizationId() != late || u[0].GetRemovedBy() != "organization.deleted" {
		t.Fatalf("mapping.unlinked events %v, want one for %s by organization.deleted", u, late)
	}
}

// A company integration-sync forgot loses its link and its copy, with one mapping.unlinked naming
// who removed it; redelivered, or for a company linked to nothing, it publishes nothing.
func TestExternalRemovedUnlinks(t *testing.T) {
	h := newSyncHarness(t)
	org, kept := h.organization("Contoso"), h.organization("Fabrikam")
	h.deliver("mapping-externals", h.created("201", org))
	h.deliver("mapping-externals", h.created("202", kept))
	h.deliver("mapping-externals", h.created("203", ""))

	removed := &integrationsyncv1.ExternalOrganizationRemoved{EventId: uuid.NewString(), AccountId: h.account,
		IntegrationId: h.integration, ExternalId: "201", OrganizationId: org, RemovedBy: "user:ada"}
	for i, want := range []bool{true, false} {
		if got := h.deliver("mapping-externals", removed); got != want {
			t.Fatalf("delivery %d: applied %v, want %v", i+1, got, want)
		}
	}
	h.deliver("mapping-externals", &integrationsyncv1.ExternalOrganizationRemoved{EventId: uuid.NewString(), AccountId: h.account,
		IntegrationId: h.integration, ExternalId: "203", RemovedBy: "user:ada"})

	if got := h.links(); len(got) != 1 || got["202"].Organization != kept {
		t.Fatalf("links %+v, want only 202's", got)
	}
	for _, ext := range []string{"201", "203"} {
		if h.externalKnown(ext) {
			t.Fatalf("company %s's copy is still there", ext)
		}
	}
	if !h.externalKnown("202") {
		t.Fatal("company 202's copy went too")
	}
	u := unlinkedEvents(h)
	if len(u) != 1 {
		t.Fatalf("%d mapping.unlinked events, want 1", len(u))
	}
	if l := u[0].GetLink(); l.GetOrganizationId() != org || l.GetExternalOrganizationId() != "201" ||
		l.GetIntegrationId() != h.integration || u[0].GetRemovedBy() != "user:ada" {
		t.Fatalf("mapping.unlinked carries %v", u[0])
	}
	if v := h.version(org); v != 2 {
		t.Fatalf("grid row version %d, want 2 (linked, then unlinked)", v)
	}
}
