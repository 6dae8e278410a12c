package orgsvc_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

func TestReviewsPublishCreationAndOwnerChanges(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	engA, _ := o.keyFor(a, "eng.a@contoso.example", "Engineer")
	engB, _ := o.keyFor(a, "eng.b@contoso.example", "Engineer")
	vcio, _ := o.keyFor(a, "vcio@contoso.example", "vCIO")
	waitEvent(o, "orgplane.org.v1.*.user.created", func(e *orgv1.UserCreated) bool {
		return e.GetAccountId() == a.id && e.GetUser().GetId() == engA && e.GetUser().GetEmail() == "eng.a@contoso.example"
	})
	group, err := o.orgs.CreateGroup(a.admin, &orgv1.CreateGroupRequest{AccountId: a.id, Group: &orgv1.Group{Name: "East region", Color: "#3366FF"}})
	if err != nil {
		t.Fatal(err)
	}
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders", DefaultEngineerId: engA, DefaultVcioId: vcio, GroupIds: []string{group.GetId()}})

	rv, err := o.reviews.CreateReview(a.admin, &orgv1.CreateReviewRequest{AccountId: a.id, Review: &orgv1.Review{
		OrganizationId: org.GetId(), Title: "Q1 alignment", EngineerDueDate: "2026-03-31"}})
	if err != nil || rv.GetEngineerId() != engA || rv.GetVcioId() != vcio || rv.GetStatus() != orgv1.ReviewStatus_REVIEW_STATUS_NOT_STARTED {
		t.Fatalf("review = %v (%v), want the organization's default engineer and vCIO", rv, err)
	}
	created := waitEvent(o, "orgplane.org.v1.*.review.created", func(e *orgv1.ReviewCreated) bool { return e.GetReview().GetId() == rv.GetId() })
	if created.GetAccountId() != a.id || created.GetOrganizationName() != "Northwind Traders" || created.GetReview().GetEngineerDueDate() != "2026-03-31" ||
		len(created.GetOrganizationGroupIds()) != 1 || created.GetOrganizationGroupIds()[0] != group.GetId() {
		t.Fatalf("review.created = %v", created)
	}

	got, err := o.reviews.ReassignReview(a.admin, &orgv1.ReassignReviewRequest{AccountId: a.id, ReviewId: rv.GetId(),
		EngineerId: proto.String(engB), EngineerDueDate: proto.String("2026-04-15")})
	if err != nil || got.GetEngineerId() != engB || got.GetVcioId() != vcio {
		t.Fatalf("reassigned = %v (%v)", got, err)
	}
	ev := waitEvent(o, "orgplane.org.v1.*.review.owner_changed", func(e *orgv1.ReviewOwnerChanged) bool { return e.GetReviewId() == rv.GetId() })
	if ev.GetRole() != orgv1.ReviewRole_REVIEW_ROLE_ENGINEER || ev.GetPreviousAssigneeId() != engA || ev.GetNewAssigneeId() != engB ||
		ev.GetDueDate() != "2026-04-15" || ev.GetOrganizationName() != "Northwind Traders" || ev.GetReviewTitle() != "Q1 alignment" ||
		ev.GetChangedBy() != a.adminID || len(ev.GetOrganizationGroupIds()) != 1 {
		t.Fatalf("review.owner_changed = %v", ev)
	}
	_, err = o.reviews.ReassignReview(a.admin, &orgv1.ReassignReviewRequest{AccountId: a.id, ReviewId: rv.GetId(), VcioId: proto.String("not-a-uuid")})
	requireInvalidField(t, "a bad assignee", err, "vcioId")
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.review.owner_changed"); n != 1 {
		t.Errorf("%d owner_changed events for one changed assignee, want 1", n)
	}

	// Updating a user publishes user.updated, with the user after the change.
	waitEvent(o, "orgplane.org.v1.*.user.created", func(e *orgv1.UserCreated) bool {
		return e.GetUser().GetId() == engB && e.GetUser().GetEmailPreferences().GetReviewAssigned()
	})
	if _, err := o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id,
		User:       &orgv1.User{Id: engB, EmailPreferences: &orgv1.EmailPreferences{ReviewAssigned: false}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email_preferences"}}}); err != nil {
		t.Fatal(err)
	}
	waitEvent(o, "orgplane.org.v1.*.user.updated", func(e *orgv1.UserUpdated) bool {
		return e.GetUser().GetId() == engB && e.GetUser().GetEmailPreferences() != nil && !e.GetUser().GetEmailPreferences().GetReviewAssigned()
	})
}
