package orgsvc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// requireSyncRefusal fails unless err is the syncing guard's refusal: 409 (ALREADY_EXISTS, as
// every conflict), reason SYNC_ENABLED, saying what to do.
func requireSyncRefusal(t testing.TB, what string, err error) {
	t.Helper()
	requireCode(t, what, err, codes.AlreadyExists)
	if !strings.Contains(err.Error(), "disable sync first") || errorReason(err) != "SYNC_ENABLED" {
		t.Fatalf("%s does not say what to do: %v (reason %q)", what, err, errorReason(err))
	}
}

// syncChanged is integration-sync's news that integration now syncs (or no longer syncs) org.
func syncChanged(a tenant, org *orgv1.Organization, integration string, syncing bool) *integrationsyncv1.OrganizationSyncChanged {
	return &integrationsyncv1.OrganizationSyncChanged{AccountId: a.id, OrganizationId: org.GetId(), IntegrationId: integration, Syncing: syncing}
}

// The syncing guard learns from integration-sync's events alone, through its outbox, NATS and
// org's org-syncs consumer: an organization synced by any integration cannot be deleted, until
// every integration syncing it has stopped or been deleted.
func TestTheSyncingGuardFollowsIntegrationSyncEvents(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	b := o.newTenant("Fabrikam IT")
	northwind := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})
	tailspin := o.createOrg(a, &orgv1.Organization{Name: "Tailspin Toys"})
	cw, at := uuid.NewString(), uuid.NewString()
	del := func(org *orgv1.Organization) error {
		_, err := o.orgs.DeleteOrganization(a.admin, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()})
		return err
	}

	// Told twice (a refresh repeating itself, under new event ids), it still takes one "stopped".
	o.publishSync(syncChanged(a, northwind, cw, true))
	o.publishSync(syncChanged(a, northwind, cw, true))
	requireSyncRefusal(t, "delete while syncing", del(northwind))
	o.publishSync(syncChanged(a, northwind, cw, false))
	requireCode(t, "delete after sync stopped", del(northwind), codes.OK)

	// News of an organization org no longer has, or one of another account, is applied as
	// nothing (publishSync waits until the consumer has applied it, so neither stalls it).
	o.publishSync(syncChanged(a, northwind, cw, true))
	o.publishSync(&integrationsyncv1.OrganizationSyncChanged{AccountId: b.id, OrganizationId: tailspin.GetId(), IntegrationId: cw, Syncing: true})
	if err := del(tailspin); err != nil {
		t.Fatalf("another account's news blocked a delete: %v", err)
	}

	// A deleted integration syncs nothing any more; another integration's sync still counts.
	contoso := o.createOrg(a, &orgv1.Organization{Name: "Contoso Pharmaceuticals"})
	o.publishSync(syncChanged(a, contoso, cw, true))
	o.publishSync(syncChanged(a, contoso, at, true))
	o.publishSync(&integrationsyncv1.IntegrationDeleted{AccountId: a.id, IntegrationId: cw, Kind: "connectwise"})
	requireSyncRefusal(t, "delete while another integration syncs", del(contoso))
	o.publishSync(&integrationsyncv1.IntegrationDeleted{AccountId: a.id, IntegrationId: at, Kind: "autotask"})
	requireCode(t, "delete after both integrations went", del(contoso), codes.OK)
}

// OrganizationSyncService is for services only: a member, even the account's administrator,
// is refused every call, before anything happens.
func TestSyncedOrganizationCallsAreForServicesOnly(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})
	integration := uuid.NewString()
	member := as(identity.Identity{Kind: identity.KindUser, PrincipalID: a.adminID, UserID: a.adminID, AccountID: a.id,
		Permissions: []string{"organizations:read", "organizations:write"}})
	for _, ctx := range []context.Context{a.admin, member, as(gatewayOperator)} {
		_, err := o.syncs.CreateSyncedOrganization(ctx, &orgv1.CreateSyncedOrganizationRequest{AccountId: a.id, IntegrationId: integration,
			RequestId: uuid.NewString(), Organization: &orgv1.Organization{Name: "Sneaky"}})
		requireCode(t, "a non-service creating", err, codes.PermissionDenied)
		_, err = o.syncs.UpdateSyncedOrganization(ctx, &orgv1.UpdateSyncedOrganizationRequest{AccountId: a.id, IntegrationId: integration,
			OrganizationId: org.GetId(), Name: proto.String("Sneaky")})
		requireCode(t, "a non-service updating", err, codes.PermissionDenied)
		_, err = o.syncs.DeleteSyncedOrganization(ctx, &orgv1.DeleteSyncedOrganizationRequest{AccountId: a.id, IntegrationId: integration,
			OrganizationId: org.GetId()})
		requireCode(t, "a non-service deleting", err, codes.PermissionDenied)
	}
	got, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()})
	if err != nil || got.GetName() != "Northwind Traders" {
		t.Fatalf("after refused calls: %v %v", got, err)
	}
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.created"); n != 1 {
		t.Fatalf("%d organization.created events, want 1 (a refused create published one?)", n)
	}
}

// The PSA sync creates organizations as a member would (validation, names, license), once per
// request id.
func TestCreateSyncedOrganization(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	sync := as(identity.Service("integration-sync"))
	integration := uuid.NewString()
	parent := o.createOrg(a, &orgv1.Organization{Name: "Northwind Holdings"})
	create := func(requestID string, org *orgv1.Organization) (*orgv1.Organization, error) {
		return o.syncs.CreateSyncedOrganization(sync, &orgv1.CreateSyncedOrganizationRequest{AccountId: a.id, IntegrationId: integration,
			RequestId: requestID, Organization: org})
	}

	rid := uuid.NewString()
	first, err := create(rid, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId(), Notes: "not the PSA's to set"})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetParentId() != parent.GetId() || first.GetNotes() != "" || first.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("created %v", first)
	}
	again, err := create(rid, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId()})
	if err != nil || again.GetId() != first.GetId() || !again.GetCreateTime().AsTime().Equal(first.GetCreateTime().AsTime()) {
		t.Fatalf("repeat answered %v (%v), first %v", again, err, first)
	}
	_, err = create(rid, &orgv1.Organization{Name: "Northwind West"})
	requireCode(t, "a request id reused for another name", err, codes.AlreadyExists)
	if errorReason(err) != "REQUEST_ID_REUSED" {
		t.Fatalf("request id reused: %v (reason %q)", err, errorReason(err))
	}

	_, err = create(uuid.NewString(), &orgv1.Organization{Name: "Northwind East"})
	requireCode(t, "a name taken", err, codes.AlreadyExists)
	_, err = create(uuid.NewString(), &orgv1.Organization{Name: "Tailspin", TypeId: uuid.NewString()})
	requireInvalidField(t, "a type of no account", err, "organization.typeId")
	_, err = create(uuid.NewString(), &orgv1.Organization{Name: "Tailspin", ParentId: uuid.NewString()})
	requireInvalidField(t, "a parent of no account", err, "organization.parentId")
	b := o.newTenant("Fabrikam IT")
	_, err = o.syncs.CreateSyncedOrganization(sync, &orgv1.CreateSyncedOrganizationRequest{AccountId: b.id, IntegrationId: integration,
		RequestId: uuid.NewString(), Organization: &orgv1.Organization{Name: "Tailspin", ParentId: parent.GetId()}})
	requireInvalidField(t, "a parent of another account", err, "organization.parentId")
	_, err = o.syncs.CreateSyncedOrganization(sync, &orgv1.CreateSyncedOrganizationRequest{AccountId: uuid.NewString(),
		IntegrationId: integration, RequestId: uuid.NewString(), Organization: &orgv1.Organization{Name: "Tailspin"}})
	requireCode(t, "an account that does not exist", err, codes.NotFound)

	// With every license taken, the sync gets what a member gets; the refused create leaves its
	// request id free for the retry once a license frees.
	if _, err := o.licenses.SetLicenseLimit(as(identity.Service("billing")), &orgv1.SetLicenseLimitRequest{AccountId: a.id,
		OrganizationLimit: 2, Writable: true}); err != nil {
		t.Fatal(err)
	}
	full := uuid.NewString()
	_, err = create(full, &orgv1.Organization{Name: "Tailspin"})
	_, memberErr := o.orgs.CreateOrganization(a.admin, &orgv1.CreateOrganizationRequest{AccountId: a.id, Organization: &orgv1.Organization{Name: "Tailspin"}})
	requireCode(t, "over the license limit", err, codes.FailedPrecondition)
	if errorReason(err) != "LICENSE_LIMIT" || errorReason(err) != errorReason(memberErr) || err.Error() != memberErr.Error() {
		t.Fatalf("over the limit the sync got %v (%q), a member %v (%q)", err, errorReason(err), memberErr, errorReason(memberErr))
	}
	if _, err := o.licenses.SetLicenseLimit(as(identity.Service("billing")), &orgv1.SetLicenseLimitRequest{AccountId: a.id,
		OrganizationLimit: 3, Writable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := create(full, &orgv1.Organization{Name: "Tailspin"}); err != nil {
		t.Fatalf("retry once a license is free: %v", err)
	}

	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.created"); n != 3 {
		t.Fatalf("%d organization.created events, want 3 (the parent, Northwind East once, Tailspin)", n)
	}
}

// The PSA sync's updates change only what differs, publish what a member's change publishes,
// and deactivate or reactivate under the usual rules.
func TestUpdateSyncedOrganization(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	sync := as(identity.Service("integration-sync"))
	integration := uuid.NewString()
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})
	o.createOrg(a, &orgv1.Organization{Name: "Tailspin Toys"})
	update := func(req *orgv1.UpdateSyncedOrganizationRequest) (*orgv1.Organization, error) {
		req.AccountId, req.IntegrationId, req.OrganizationId = a.id, integration, org.GetId()
		return o.syncs.UpdateSyncedOrganization(sync, req)
	}

	// Already as asked: no change, no event.
	same, err := update(&orgv1.UpdateSyncedOrganizationRequest{Name: proto.String("Northwind Traders"), TypeId: proto.String(""), Active: proto.Bool(true)})
	if err != nil || same.GetName() != "Northwind Traders" || !same.GetUpdateTime().AsTime().Equal(org.GetUpdateTime().AsTime()) {
		t.Fatalf("no-op update: %v %v", same, err)
	}
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.updated"); n != 0 {
		t.Fatalf("%d organization.updated events after a no-op update, want none", n)
	}

	// A rename publishes organization.updated naming only the field that changed.
	renamed, err := update(&orgv1.UpdateSyncedOrganizationRequest{Name: proto.String("Northwind Traders Ltd"), StatusId: proto.String("")})
	if err != nil || renamed.GetName() != "Northwind Traders Ltd" {
		t.Fatalf("rename: %v %v", renamed, err)
	}
	waitEvent(o, "orgplane.org.v1.*.organization.updated", func(e *orgv1.OrganizationUpdated) bool {
		return e.GetOrganization().GetId() == org.GetId() && strings.Join(e.GetChangedFields(), ",") == "name"
	})
	_, err = update(&orgv1.UpdateSyncedOrganizationRequest{Name: proto.String("Tailspin Toys")})
	requireCode(t, "a rename onto a taken name", err, codes.AlreadyExists)
	_, err = update(&orgv1.UpdateSyncedOrganizationRequest{TypeId: proto.String(uuid.NewString())})
	requireInvalidField(t, "a type of no account", err, "typeId")

	// The subscription's read-only state does not stop the sync's updates (services pass).
	if _, err := o.licenses.SetLicenseLimit(as(identity.Service("billing")), &orgv1.SetLicenseLimitRequest{AccountId: a.id,
		Unlimited: true, Writable: false}); err != nil {
		t.Fatal(err)
	}
	// active=false deactivates, all in one with a rename; the 12-month rule holds for reactivation.
	off, err := update(&orgv1.UpdateSyncedOrganizationRequest{Name: proto.String("Northwind"), Active: proto.Bool(false)})
	if err != nil || off.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE || off.GetName() != "Northwind" {
		t.Fatalf("deactivation: %v %v", off, err)
	}
	waitEvent(o, "orgplane.org.v1.*.organization.deactivated", func(e *orgv1.OrganizationDeactivated) bool {
		return e.GetOrganization().GetId() == org.GetId() && e.GetOrganization().GetName() == "Northwind"
	})
	if _, err := o.licenses.SetLicenseLimit(as(identity.Service("billing")), &orgv1.SetLicenseLimitRequest{AccountId: a.id,
		Unlimited: true, Writable: true}); err != nil {
		t.Fatal(err)
	}
	o.clock.addMonths(11)
	_, err = update(&orgv1.UpdateSyncedOrganizationRequest{Name: proto.String("Northwind again"), Active: proto.Bool(true)})
	requireCode(t, "reactivation at 11 months", err, codes.FailedPrecondition)
	if errorReason(err) != "REACTIVATION_COOLDOWN" {
		t.Fatalf("reactivation at 11 months: %v (reason %q)", err, errorReason(err))
	}
	got, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()})
	if err != nil || got.GetName() != "Northwind" {
		t.Fatalf("a refused update changed the organization: %v %v", got, err)
	}
	o.clock.addMonths(1)
	on, err := update(&orgv1.UpdateSyncedOrganizationRequest{Active: proto.Bool(true)})
	if err != nil || on.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("reactivation at 12 months: %v %v", on, err)
	}
	waitEvent(o, "orgplane.org.v1.*.organization.reactivated", func(e *orgv1.OrganizationReactivated) bool {
		return e.GetOrganization().GetId() == org.GetId() && !e.GetCooldownOverridden()
	})
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.updated"); n != 2 {
		t.Fatalf("%d organization.updated events, want 2 (the two renames that committed)", n)
	}
}

// The sync deletes what its integration brought in even while that integration syncs it, not
// while another integration does; a member is stopped by either.
func TestDeleteSyncedOrganization(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	sync := as(identity.Service("integration-sync"))
	cw, at := uuid.NewString(), uuid.NewString()
	parent := o.createOrg(a, &orgv1.Organization{Name: "Northwind Holdings"})
	child := o.createOrg(a, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId()})
	o.publishSync(syncChanged(a, parent, cw, true))
	o.publishSync(syncChanged(a, child, at, true))
	del := func(integration string) (*orgv1.DeleteOrganizationResponse, error) {
		return o.syncs.DeleteSyncedOrganization(sync, &orgv1.DeleteSyncedOrganizationRequest{AccountId: a.id, IntegrationId: integration,
			OrganizationId: parent.GetId()})
	}

	_, err := del(cw)
	requireSyncRefusal(t, "the sync deleting while another integration syncs a sub-organization", err)
	o.publishSync(syncChanged(a, child, at, false))
	_, err = o.orgs.DeleteOrganization(a.admin, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: parent.GetId()})
	requireSyncRefusal(t, "a member deleting what an integration syncs", err)

	resp, err := del(cw)
	if err != nil || len(resp.GetDeletedOrganizationIds()) != 2 {
		t.Fatalf("the sync deleting what only it syncs: %v %v", resp, err)
	}
	for _, gone := range []*orgv1.Organization{parent, child} {
		waitEvent(o, "orgplane.org.v1.*.organization.deleted", func(e *orgv1.OrganizationDeleted) bool {
			return e.GetOrganizationId() == gone.GetId() && e.GetDeletedWithId() == parent.GetId()
		})
	}
	_, err = del(cw)
	requireCode(t, "deleting it again", err, codes.NotFound)
}
