package orgsvc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// createRole creates a custom role as the account's administrator.
func (o *liveOrg) createRole(a tenant, name string, levels map[string]orgv1.PermissionLevel) string {
	o.t.Helper()
	r, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Name: name, Permissions: areaPermissions(levels)}})
	if err != nil {
		o.t.Fatalf("create role %q: %v", name, err)
	}
	return r.GetId()
}

// deleteRole deletes a role as the administrator.
func (o *liveOrg) deleteRole(a tenant, id string) error {
	_, err := o.access.DeleteRole(a.admin, &orgv1.DeleteRoleRequest{AccountId: a.id, RoleId: id})
	return err
}

// setRole gives user a role as the administrator.
func (o *liveOrg) setRole(a tenant, user, role string) (*orgv1.User, error) {
	return o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: user, RoleId: role},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_id"}}})
}

// requireRoleInUse fails unless err is the refusal to delete a held role (409 at the gateway)
// and its message says every part of what holds it.
func requireRoleInUse(t *testing.T, what string, err error, says ...string) {
	t.Helper()
	requireCode(t, what, err, codes.AlreadyExists)
	if r := errorReason(err); r != "ROLE_IN_USE" {
		t.Fatalf("%s: reason %q (%v), want ROLE_IN_USE", what, r, err)
	}
	msg := status.Convert(err).Message()
	for _, s := range says {
		if !strings.Contains(msg, s) {
			t.Fatalf("%s: %q does not say %q", what, msg, s)
		}
	}
}

// A custom role can be deleted once nothing holds it. Built-in roles never can; a role held by
// users (an invited one, a deactivated one), a valid API key or single sign-on is refused with
// what holds it; another account's role is as missing; a caller holding less than the role may
// not delete it. A revoked key keeps its record without the role.
func TestDeleteRole(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	b := o.newTenant("Fabrikam IT")

	for _, name := range []string{"IT Provider Admin", "vCIO", "Engineer"} {
		err := o.deleteRole(a, o.roleID(a, name))
		requireCode(t, "deleting "+name, err, codes.FailedPrecondition)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "built-in") {
			t.Fatalf("deleting %s: %q does not say it is built in", name, msg)
		}
	}

	reviewer := o.createRole(a, "Reviewer", map[string]orgv1.PermissionLevel{"reviews": levelFull, "organizations": levelRO})
	rita, ritaKey := o.keyFor(a, "rita@contoso.example", "Reviewer")
	if _, err := o.signIn.InviteUser(a.admin, &orgv1.InviteUserRequest{AccountId: a.id, UserId: rita}); err != nil {
		t.Fatal(err)
	}
	ron, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
		FirstName: "Ron", LastName: "Reviewer", Email: "ron@contoso.example", RoleId: reviewer, AllOrganizations: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: ron.GetId(), SetActive: proto.Bool(false)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"set_active"}}}); err != nil {
		t.Fatal(err)
	}
	requireRoleInUse(t, "a role two users and a key hold", o.deleteRole(a, reviewer),
		`"Reviewer"`, "2 users (1 deactivated, 1 invited and not yet signed in)", "1 API key", "give the users another role", "revoke the API keys")

	// Single sign-on's default role is held too (set as the superuser: the provider's issuer
	// would have to answer discovery through the API).
	sso := o.createRole(a, "Newcomer", nil)
	o.query(`INSERT INTO org.sso_providers (account_id, issuer, client_id, create_users, default_role_id, updated_at)
		VALUES ($1, 'https://idp.example', 'orgplane', true, $2, now()) RETURNING 1`, []any{a.id, sso}, new(int))
	requireRoleInUse(t, "single sign-on's default role", o.deleteRole(a, sso), "single sign-on", "choose another role for single sign-on")

	// Another account's role, and one that does not exist, are the same NotFound.
	errOther := o.deleteRole(b, reviewer)
	errMissing := o.deleteRole(b, "00000000-0000-4000-8000-000000000000")
	requireCode(t, "another account's role", errOther, codes.NotFound)
	if status.Convert(errOther).Message() != status.Convert(errMissing).Message() {
		t.Fatalf("another account's role: %v; a missing role: %v", errOther, errMissing)
	}

	// A caller with Full on roles but less than the role holds may not delete it.
	o.createRole(a, "Only roles", map[string]orgv1.PermissionLevel{"roles": levelFull})
	_, rolesOnlyKey := o.keyFor(a, "roles@contoso.example", "Only roles")
	_, err = o.access.DeleteRole(o.caller(rolesOnlyKey), &orgv1.DeleteRoleRequest{AccountId: a.id, RoleId: reviewer})
	requireCode(t, "deleting a role holding more than the caller", err, codes.PermissionDenied)
	// A reader of roles may not delete any.
	_, readerKey := o.keyFor(a, "vcio@contoso.example", "vCIO")
	_, err = o.access.DeleteRole(o.caller(readerKey), &orgv1.DeleteRoleRequest{AccountId: a.id, RoleId: sso})
	requireCode(t, "a vCIO deleting a role", err, codes.PermissionDenied)

	// Reassigned and revoked, nothing holds it: it goes, and the revoked key stays listed.
	for _, u := range []string{rita, ron.GetId()} {
		if _, err := o.setRole(a, u, o.roleID(a, "Engineer")); err != nil {
			t.Fatal(err)
		}
	}
	requireRoleInUse(t, "a role only a key holds", o.deleteRole(a, reviewer), "held by 1 API key: revoke the API keys")
	var keyID string
	for _, k := range o.keys(a) {
		if k.GetRoleId() == reviewer {
			keyID = k.GetId()
		}
	}
	if _, err := o.access.RevokeApiKey(a.admin, &orgv1.RevokeApiKeyRequest{AccountId: a.id, ApiKeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	if err := o.deleteRole(a, reviewer); err != nil {
		t.Fatalf("deleting a role nobody holds: %v", err)
	}
	for _, r := range o.roles(a) {
		if r.GetId() == reviewer {
			t.Fatal("the deleted role is still listed")
		}
	}
	i := slices.IndexFunc(o.keys(a), func(k *orgv1.ApiKey) bool { return k.GetId() == keyID })
	if i < 0 {
		t.Fatal("the revoked key of the deleted role is no longer listed")
	}
	if k := o.keys(a)[i]; k.GetRoleId() != "" || k.GetRevokeTime() == nil {
		t.Fatalf("the revoked key of the deleted role: %v", k)
	}
	if _, err := o.authenticate(ritaKey); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the revoked key authenticates: %v", err)
	}
	requireCode(t, "deleting it again", o.deleteRole(a, reviewer), codes.NotFound)
	// Once deleted, the role cannot be handed out.
	_, err = o.setRole(a, rita, reviewer)
	requireInvalidField(t, "giving a deleted role", err, "roleId")
}

// Deleting a role while it is being given (to an existing user, to a new user, to a new API key)
// ends with exactly one of them done, in every round: never both, never a holder of a missing
// role, never an internal error.
func TestDeleteRoleRacesGivingIt(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	engineer := o.roleID(a, "Engineer")
	const rounds = 60
	won := map[string]int{}
	for round := range rounds {
		role := o.createRole(a, fmt.Sprintf("Contested %d", round), map[string]orgv1.PermissionLevel{"reviews": levelRO})
		user, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
			FirstName: "Round", LastName: fmt.Sprint(round), Email: fmt.Sprintf("round%d@contoso.example", round), RoleId: engineer, AllOrganizations: true}})
		if err != nil {
			t.Fatal(err)
		}
		how := []string{"UpdateUser", "CreateUser", "CreateApiKey"}[round%3]
		give := []func() error{
			func() error { _, err := o.setRole(a, user.GetId(), role); return err },
			func() error {
				_, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
					FirstName: "New", LastName: fmt.Sprint(round), Email: fmt.Sprintf("new%d@contoso.example", round), RoleId: role, AllOrganizations: true}})
				return err
			},
			func() error {
				_, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{
					Name: fmt.Sprintf("key %d", round), RoleId: role}})
				return err
			},
		}[round%3]
		var delErr, giveErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; delErr = o.deleteRole(a, role) })
		wg.Go(func() { <-start; giveErr = give() })
		close(start)
		wg.Wait()

		switch {
		case delErr == nil && giveErr == nil:
			t.Fatalf("round %d: the role was deleted and given (%s) both", round, how)
		case delErr == nil:
			// Giving a role that is gone: the request names a role that is not the account's.
			requireInvalidField(t, fmt.Sprintf("round %d, %s after the delete", round, how), giveErr, "roleId")
			won["delete"]++
		case giveErr == nil:
			requireRoleInUse(t, fmt.Sprintf("round %d, deleting after %s", round, how), delErr, "held by 1")
			won[how]++
		default:
			t.Fatalf("round %d: both failed: delete %v; %s %v", round, delErr, how, giveErr)
		}
	}
	// No user or valid key holds a role that does not exist.
	var orphans int
	o.query(`SELECT (SELECT count(*) FROM org.users u WHERE u.account_id = $1 AND NOT EXISTS (SELECT 1 FROM org.roles r WHERE r.id = u.role_id))
		+ (SELECT count(*) FROM org.api_keys k WHERE k.account_id = $1 AND k.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM org.roles r WHERE r.id = k.role_id))`,
		[]any{a.id}, &orphans)
	if orphans != 0 {
		t.Fatalf("%d users or keys hold a missing role", orphans)
	}
	t.Logf("winners over %d rounds: %v", rounds, won)
}

// ListUsers' query finds users by a case-insensitive part of the first name, last name or email,
// with LIKE's wildcards taken literally, in the list's order and pages; a page token belongs to
// its query.
func TestListUsersQuery(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	b := o.newTenant("Fabrikam IT")
	for _, u := range []struct{ first, last, email string }{
		{"Rita", "Reviewer", "rita@contoso.example"},
		{"Margarita", "Baker", "m.baker@contoso.example"},
		{"Bob", "Rittenhouse", "bob@contoso.example"},
		{"Carol", "Jones", "carol_100%@contoso.example"},
		{"Dave", "Smith", "dave@rita.example"},
		{"Erin", "Stone", "erin@contoso.example"},
	} {
		if _, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
			FirstName: u.first, LastName: u.last, Email: u.email, AllOrganizations: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.access.CreateUser(b.admin, &orgv1.CreateUserRequest{AccountId: b.id, User: &orgv1.User{
		FirstName: "Rita", LastName: "Elsewhere", Email: "rita@fabrikam.example", AllOrganizations: true}}); err != nil {
		t.Fatal(err)
	}
	search := func(q string) pageLister[*orgv1.User] {
		return func(size int32, token string) ([]*orgv1.User, string, error) {
			r, err := o.access.ListUsers(a.admin, &orgv1.ListUsersRequest{AccountId: a.id, Query: q, PageSize: size, PageToken: token})
			return r.GetUsers(), r.GetNextPageToken(), err
		}
	}
	name := func(u *orgv1.User) string { return u.GetFirstName() + " " + u.GetLastName() }
	for _, c := range []struct {
		query string
		want  []string
	}{
		// Last name, first name order; first name, last name and email all match.
		{"RIT", []string{"Margarita Baker", "Rita Reviewer", "Bob Rittenhouse", "Dave Smith"}},
		{"baker", []string{"Margarita Baker"}},
		{"contoso.example", []string{"Margarita Baker", "Carol Jones", "Rita Reviewer", "Bob Rittenhouse", "Erin Stone"}},
		// Wildcards are literal: _ and % match only themselves.
		{"_", []string{"Carol Jones"}},
		{"%", []string{"Carol Jones"}},
		{"r_t", nil},
		{"rit%", nil},
		{"nobody", nil},
	} {
		got := allPages(t, "users matching "+c.query, 0, search(c.query))
		var names []string
		for _, u := range got {
			names = append(names, name(u))
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("users matching %q: %v, want %v", c.query, names, c.want)
		}
	}
	walkPages(t, "users matching rit", 1, search("rit"), name, []string{"Margarita Baker", "Rita Reviewer", "Bob Rittenhouse", "Dave Smith"})
	walkPages(t, "users matching rit", 3, search("rit"), name, []string{"Margarita Baker", "Rita Reviewer", "Bob Rittenhouse", "Dave Smith"})
	// A token continues only the search it came from.
	_, _, err := search("ri")(2, secondPageToken(t, "users matching rit", search("rit")))
	requireInvalidField(t, "a token of one search used for another", err, "pageToken")
	_, _, err = search("")(2, secondPageToken(t, "users matching rit", search("rit")))
	requireInvalidField(t, "a search's token used for the whole list", err, "pageToken")
	_, _, err = search("rit")(2, secondPageToken(t, "every user", search("")))
	requireInvalidField(t, "the whole list's token used for a search", err, "pageToken")
	requirePagingRefusals(t, "users matching rit", search("rit"), secondPageToken(t, "roles", func(size int32, token string) ([]*orgv1.Role, string, error) {
		r, err := o.access.ListRoles(a.admin, &orgv1.ListRolesRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetRoles(), r.GetNextPageToken(), err
	}))
	_, err = o.access.ListUsers(a.admin, &orgv1.ListUsersRequest{AccountId: a.id, Query: strings.Repeat("x", 256)})
	requireInvalidField(t, "a query of 256 characters", err, "query")
}

// ListReviews' assignee_id keeps the reviews a user is the engineer or the vCIO of; "me" is the
// signed-in person calling, and no one for a caller that is not a person; another account's
// user matches nothing. Pages follow the filter and their tokens belong to it.
func TestListReviewsByAssignee(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	b := o.newTenant("Fabrikam IT")
	eve, eveKey := o.keyFor(a, "eve@contoso.example", "Engineer")
	val, _ := o.keyFor(a, "val@contoso.example", "vCIO")
	other, _ := o.keyFor(b, "eve@fabrikam.example", "Engineer")
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})

	type assignment struct{ engineer, vcio string }
	var mine, vals []string // titles, newest first
	for i, asg := range []assignment{{eve, val}, {"", val}, {eve, ""}, {a.adminID, eve}, {"", ""}, {val, eve}, {eve, eve}} {
		title := fmt.Sprintf("Review %d", i)
		if _, err := o.reviews.CreateReview(a.admin, &orgv1.CreateReviewRequest{AccountId: a.id, Review: &orgv1.Review{
			OrganizationId: org.GetId(), Title: title, EngineerId: asg.engineer, VcioId: asg.vcio}}); err != nil {
			t.Fatal(err)
		}
		// Reviews are listed newest first, by creation time: each a moment after the last.
		o.clock.mu.Lock()
		o.clock.now = o.clock.now.Add(time.Second)
		o.clock.mu.Unlock()
		if asg.engineer == eve || asg.vcio == eve {
			mine = slices.Insert(mine, 0, title)
		}
		if asg.engineer == val || asg.vcio == val {
			vals = slices.Insert(vals, 0, title)
		}
	}
	list := func(ctx context.Context, assignee string) pageLister[*orgv1.Review] {
		return func(size int32, token string) ([]*orgv1.Review, string, error) {
			r, err := o.reviews.ListReviews(ctx, &orgv1.ListReviewsRequest{AccountId: a.id, AssigneeId: assignee, PageSize: size, PageToken: token})
			return r.GetReviews(), r.GetNextPageToken(), err
		}
	}
	title := (*orgv1.Review).GetTitle
	walkPages(t, "Eve's reviews", 2, list(a.admin, eve), title, mine)
	walkPages(t, "Val's reviews", 1, list(a.admin, val), title, vals)
	if all := allPages(t, "every review", 0, list(a.admin, "")); len(all) != 7 {
		t.Fatalf("%d reviews without a filter, want 7", len(all))
	}
	// "me": Eve signed in.
	person := as(identityOfUser(a.id, eve, "reviews:read"))
	walkPages(t, "Eve's own reviews", 3, list(person, "me"), title, mine)
	// Not a person: a key (even one acting as Eve), the operator.
	for who, ctx := range map[string]context.Context{"a key acting as Eve": o.caller(eveKey), "the operator": as(gatewayOperator)} {
		_, _, err := list(ctx, "me")(0, "")
		requireInvalidField(t, `"me" for `+who, err, "assigneeId")
	}
	// Another account's user, a user id that is no one's and a malformed one.
	if got := allPages(t, "another account's user's reviews", 0, list(a.admin, other)); len(got) != 0 {
		t.Fatalf("another account's user has %d reviews here", len(got))
	}
	if got := allPages(t, "nobody's reviews", 0, list(a.admin, "00000000-0000-4000-8000-000000000000")); len(got) != 0 {
		t.Fatalf("nobody has %d reviews", len(got))
	}
	_, _, err := list(a.admin, "eve")(0, "")
	requireInvalidField(t, "a malformed assignee", err, "assigneeId")
	// A token belongs to its assignee.
	_, _, err = list(a.admin, val)(2, secondPageToken(t, "Eve's reviews", list(a.admin, eve)))
	requireInvalidField(t, "Eve's token for Val's reviews", err, "pageToken")
	_, _, err = list(a.admin, "")(2, secondPageToken(t, "Eve's reviews", list(a.admin, eve)))
	requireInvalidField(t, "Eve's token for every review", err, "pageToken")
	_, _, err = list(person, eve)(2, secondPageToken(t, "Eve's own reviews", list(person, "me")))
	if err != nil {
		t.Fatalf("a token of \"me\" for the same person by id: %v (the filter is the user, however named)", err)
	}
}

// identityOfUser is a person signed in to account, as the gateway makes it from their session.
func identityOfUser(account, user string, perms ...string) identity.Identity {
	return identity.Identity{Kind: identity.KindUser, PrincipalID: user, UserID: user, AccountID: account, Permissions: perms,
		SessionID: "00000000-0000-4000-8000-00000000005e"}
}
