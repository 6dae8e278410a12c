package orgsvc_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// signInOrg is the org service over a fresh database, with the test's clock, its logs kept (at
// debug level, so a secret written anywhere in them is found) and a superuser connection to
// read every table.
type signInOrg struct {
	t        *testing.T
	clock    *movableClock
	logs     *lockedBuffer
	db       *pgx.Conn
	testDB   *testkit.DB
	accounts orgv1.AccountServiceClient
	access   orgv1.AccessServiceClient
	signIn   orgv1.SignInServiceClient
	auth     orgv1.SignInAuthServiceClient
	sso      orgv1.SingleSignOnServiceClient
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (c *movableClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startSignInOrg(t *testing.T, opts ...orgsvc.Option) *signInOrg {
	t.Helper()
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	return serveSignInOrg(t, db, &movableClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, opts...)
}

// serveSignInOrg is startSignInOrg over an existing database and clock (a service restarted with
// other settings).
func serveSignInOrg(t *testing.T, db *testkit.DB, clock *movableClock, opts ...orgsvc.Option) *signInOrg {
	t.Helper()
	spec := orgsvc.Spec(append([]orgsvc.Option{orgsvc.WithClock(clock.Now)}, opts...)...)
	keys := testkit.Keyring(t)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := rpc.NewServer(log, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spec.New(context.Background(), platform.Deps{Log: log, Pool: db.Pool, Keys: keys, Server: srv}); err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(testkit.ServeGRPC(t, srv), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	admin, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return &signInOrg{t: t, clock: clock, logs: logs, db: admin, testDB: db,
		accounts: orgv1.NewAccountServiceClient(conn), access: orgv1.NewAccessServiceClient(conn),
		signIn: orgv1.NewSignInServiceClient(conn), auth: orgv1.NewSignInAuthServiceClient(conn),
		sso: orgv1.NewSingleSignOnServiceClient(conn)}
}

var (
	gateway      = identity.Service("gateway")
	notification = identity.Service("notification")
)

// fromGateway is a call the gateway makes as itself for a client at address.
func fromGateway(address string) context.Context {
	return metadata.AppendToOutgoingContext(as(gateway), "x-orgplane-client-address", address,
		"x-orgplane-user-agent", "Mozilla/5.0 (test)")
}

const (
	adaPassword   = "correct horse battery staple"
	clientAddress = "198.51.100.23"
)

// signInTenant is an account with its administrator (Ada) and a second user (Bob, an engineer).
type signInTenant struct {
	account string
	ada     *orgv1.User
	bob     *orgv1.User
}

func (o *signInOrg) newTenant(name string) signInTenant {
	o.t.Helper()
	resp, err := o.accounts.CreateAccount(as(operator), &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: name},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Lovelace", Email: "ada@" + strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example"}})
	if err != nil {
		o.t.Fatal(err)
	}
	acct := resp.GetAccount().GetId()
	bob, err := o.access.CreateUser(as(operator), &orgv1.CreateUserRequest{AccountId: acct,
		User: &orgv1.User{FirstName: "Bob", LastName: "Builder", Email: "Bob@" + strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example"}})
	if err != nil {
		o.t.Fatal(err)
	}
	return signInTenant{account: acct, ada: resp.GetAdministrator(), bob: bob}
}

// invite invites u as the operator and returns the link's token, minted as the notification
// service mints it when it sends the email.
func (o *signInOrg) invite(acct string, u *orgv1.User) (*orgv1.Invitation, string) {
	o.t.Helper()
	inv, err := o.signIn.InviteUser(as(operator), &orgv1.InviteUserRequest{AccountId: acct, UserId: u.GetId()})
	if err != nil {
		o.t.Fatal(err)
	}
	link, err := o.auth.IssueSignInLink(as(notification), &orgv1.IssueSignInLinkRequest{AccountId: acct,
		Kind: orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION, Id: inv.GetId()})
	if err != nil {
		o.t.Fatal(err)
	}
	return inv, link.GetToken()
}

// onboard invites u and sets its password.
func (o *signInOrg) onboard(acct string, u *orgv1.User, password string) {
	o.t.Helper()
	_, token := o.invite(acct, u)
	if _, err := o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: token, Password: password}); err != nil {
		o.t.Fatal(err)
	}
}

// session is a signed-in person: the cookie's token and the identity the gateway makes of it.
type session struct {
	token string
	id    identity.Identity
}

func (o *signInOrg) signInAs(email, password string) session {
	o.t.Helper()
	resp, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: email, Password: password})
	if err != nil {
		o.t.Fatalf("sign in %s: %v", email, err)
	}
	id, err := o.authenticate(resp.GetSessionToken())
	if err != nil {
		o.t.Fatalf("authenticate the new session: %v", err)
	}
	return session{token: resp.GetSessionToken(), id: id}
}

// authenticate is what the gateway does with a cookie on every request.
func (o *signInOrg) authenticate(token string) (identity.Identity, error) {
	r, err := o.auth.AuthenticateSession(as(gateway), &orgv1.AuthenticateSessionRequest{Digest: identity.APIKeyDigest(token)})
	if err != nil {
		return identity.Identity{}, err
	}
	return identity.Identity{Kind: identity.KindUser, PrincipalID: r.GetUserId(), AccountID: r.GetAccountId(), UserID: r.GetUserId(),
		SessionID: r.GetSessionId(), Permissions: r.GetPermissions(), RestrictedToGroups: r.GetRestrictedToGroups(), Groups: r.GetGroupIds()}, nil
}

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
}

func wantInvalidField(t *testing.T, what string, err error, field, says string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), field+": ") || !strings.Contains(st.Message(), says) {
		t.Fatalf("%s: %v, want InvalidArgument on %s saying %q", what, err, field, says)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Fatalf("%s: no BadRequest detail naming %s", what, field)
}

// outboxEvents reads the events of kind T waiting in the outbox.
func outboxEvents[T proto.Message](t *testing.T, db *pgx.Conn, subjectSuffix string, newT func() T) []T {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT payload FROM org.outbox WHERE subject LIKE '%.' || $1 ORDER BY seq`, subjectSuffix)
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, p := range payloads {
		m := newT()
		if err := proto.Unmarshal(p, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestSignInFromInvitationToSignOut is the whole life of a sign-in, at the service's API: an
// invitation (its event, its link minted for the notification service only, redeemed once), a
// sign-in, the session authenticating for the gateway only, the person's own calls, and the
// session's end.
func TestSignInFromInvitationToSignOut(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	other := o.newTenant("Fabrikam IT")

	// Invitation: a user:write caller of the account may; the event carries no secret.
	inv, err := o.signIn.InviteUser(as(operator), &orgv1.InviteUserRequest{AccountId: te.account, UserId: te.ada.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if inv.GetEmail() != te.ada.GetEmail() || !inv.GetExpireTime().AsTime().Equal(o.clock.Now().Add(72*time.Hour)) {
		t.Fatalf("invitation %v", inv)
	}
	invited := outboxEvents(t, o.db, "user.invited", func() *orgv1.UserInvited { return &orgv1.UserInvited{} })
	if len(invited) != 1 || invited[0].GetInvitationId() != inv.GetId() || invited[0].GetUserId() != te.ada.GetId() || invited[0].GetAccountId() != te.account {
		t.Fatalf("user.invited events %v", invited)
	}
	// A member of another account cannot invite here; one without users:write cannot either.
	otherAdmin := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: other.account, Permissions: []string{"users:write"}}
	_, err = o.signIn.InviteUser(as(otherAdmin), &orgv1.InviteUserRequest{AccountId: te.account, UserId: te.ada.GetId()})
	wantCode(t, "invite from another account", err, codes.NotFound)
	reader := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, Permissions: []string{"users:read"}}
	_, err = o.signIn.InviteUser(as(reader), &orgv1.InviteUserRequest{AccountId: te.account, UserId: te.ada.GetId()})
	wantCode(t, "invite without users:write", err, codes.PermissionDenied)
	// The link lets its holder act as the invitee: nobody invites someone holding more than they.
	usersOnly := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, Permissions: []string{"users:read", "users:write"}}
	_, err = o.signIn.InviteUser(as(usersOnly), &orgv1.InviteUserRequest{AccountId: te.account, UserId: te.ada.GetId()})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "holds more than you do") {
		t.Fatalf("inviting an administrator with users:write alone: %v", err)
	}

	// Only the notification service mints the link's token.
	issue := &orgv1.IssueSignInLinkRequest{AccountId: te.account, Kind: orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION, Id: inv.GetId()}
	for name, who := range map[string]identity.Identity{"gateway": gateway, "billing": identity.Service("billing"), "operator": operator} {
		_, err := o.auth.IssueSignInLink(as(who), issue)
		wantCode(t, "IssueSignInLink as "+name, err, codes.PermissionDenied)
	}
	first, err := o.auth.IssueSignInLink(as(notification), issue)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetEmail() != te.ada.GetEmail() || first.GetFirstName() != "Ada" || first.GetUserId() != te.ada.GetId() || !strings.HasPrefix(first.GetToken(), "opl_") {
		t.Fatalf("issued link %v", first)
	}
	// Issuing again (a retried email) replaces the token: the first one stops working.
	link, err := o.auth.IssueSignInLink(as(notification), issue)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: first.GetToken(), Password: adaPassword})
	wantInvalidField(t, "a replaced token", err, "token", "not a valid invitation link")

	// The policy holds; a refused password does not use the link up.
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: link.GetToken(), Password: "short"})
	wantInvalidField(t, "short password", err, "password", "at least 12 characters")
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: link.GetToken(), Password: te.ada.GetEmail()})
	wantInvalidField(t, "own email", err, "password", "your email address or your name")
	accepted, err := o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: link.GetToken(), Password: adaPassword})
	if err != nil || accepted.GetEmail() != te.ada.GetEmail() {
		t.Fatalf("accept: %v %v", accepted, err)
	}
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: link.GetToken(), Password: "another long passphrase"})
	wantInvalidField(t, "second use", err, "token", "not a valid invitation link")
	_, err = o.auth.IssueSignInLink(as(notification), issue)
	wantCode(t, "issuing a used invitation", err, codes.FailedPrecondition)

	// Sign in, with the email as typed in any case.
	resp, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: strings.ToUpper(te.ada.GetEmail()), Password: adaPassword})
	if err != nil {
		t.Fatal(err)
	}
	cu := resp.GetCurrentUser()
	if !strings.HasPrefix(resp.GetSessionToken(), "ops_") || cu.GetAccountId() != te.account || cu.GetUser().GetId() != te.ada.GetId() ||
		!cu.GetSession().GetCurrent() || cu.GetSession().GetClientAddress() != clientAddress || cu.GetSession().GetUserAgent() != "Mozilla/5.0 (test)" ||
		!contains(cu.GetPermissions(), "users:write") || cu.GetCsrfToken() != "" {
		t.Fatalf("sign-in response %v", resp)
	}
	if !cu.GetSession().GetExpireTime().AsTime().Equal(o.clock.Now().Add(12 * time.Hour)) {
		t.Fatalf("session expires %v", cu.GetSession().GetExpireTime().AsTime())
	}

	// Only the gateway authenticates sessions.
	digest := &orgv1.AuthenticateSessionRequest{Digest: identity.APIKeyDigest(resp.GetSessionToken())}
	for name, who := range map[string]identity.Identity{"notification": notification, "billing": identity.Service("billing")} {
		_, err := o.auth.AuthenticateSession(as(who), digest)
		wantCode(t, "AuthenticateSession as "+name, err, codes.PermissionDenied)
	}
	ada, err := o.authenticate(resp.GetSessionToken())
	if err != nil {
		t.Fatal(err)
	}
	if ada.AccountID != te.account || ada.UserID != te.ada.GetId() || ada.SessionID != cu.GetSession().GetId() || !ada.Has("users:write") {
		t.Fatalf("session identity %+v", ada)
	}
	_, err = o.authenticate("ops_not-a-session")
	wantCode(t, "an unknown token", err, codes.Unauthenticated)

	// The person's own calls.
	me, err := o.signIn.GetCurrentUser(as(ada), &orgv1.GetCurrentUserRequest{})
	if err != nil || me.GetUser().GetEmail() != te.ada.GetEmail() || me.GetSession().GetId() != ada.SessionID {
		t.Fatalf("me: %v %v", me, err)
	}
	// An API key acting as Ada is not Ada signed in.
	adaKey := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, UserID: te.ada.GetId(), Permissions: ada.Permissions}
	_, err = o.signIn.GetCurrentUser(as(adaKey), &orgv1.GetCurrentUserRequest{})
	wantCode(t, "me as an API key", err, codes.PermissionDenied)

	o.clock.advance(5 * time.Minute)
	laptop := o.signInAs(te.ada.GetEmail(), adaPassword)
	list, err := o.signIn.ListMySessions(as(ada), &orgv1.ListMySessionsRequest{PageSize: 1})
	if err != nil || len(list.GetSessions()) != 1 || list.GetNextPageToken() == "" || list.GetSessions()[0].GetId() != laptop.id.SessionID || list.GetSessions()[0].GetCurrent() {
		t.Fatalf("first page: %v %v", list, err)
	}
	list, err = o.signIn.ListMySessions(as(ada), &orgv1.ListMySessionsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetSessions()) != 1 || list.GetNextPageToken() != "" || list.GetSessions()[0].GetId() != ada.SessionID || !list.GetSessions()[0].GetCurrent() {
		t.Fatalf("second page: %v %v", list, err)
	}

	// Bob signs in too; Ada cannot close his session, which looks like none at all.
	o.onboard(te.account, te.bob, "bob builds with long passwords")
	bob := o.signInAs(te.bob.GetEmail(), "bob builds with long passwords")
	_, err = o.signIn.RevokeMySession(as(ada), &orgv1.RevokeMySessionRequest{SessionId: bob.id.SessionID})
	wantCode(t, "revoking another's session", err, codes.NotFound)
	if _, err := o.authenticate(bob.token); err != nil {
		t.Fatalf("Bob's session after Ada's attempt: %v", err)
	}

	// Ada closes the laptop's session: its cookie stops working, hers goes on.
	if _, err := o.signIn.RevokeMySession(as(ada), &orgv1.RevokeMySessionRequest{SessionId: laptop.id.SessionID}); err != nil {
		t.Fatal(err)
	}
	_, err = o.authenticate(laptop.token)
	wantCode(t, "a revoked session", err, codes.Unauthenticated)
	if _, err := o.authenticate(resp.GetSessionToken()); err != nil {
		t.Fatalf("the other session: %v", err)
	}

	// Sign out: the cookie no longer works.
	if _, err := o.signIn.SignOut(as(ada), &orgv1.SignOutRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = o.authenticate(resp.GetSessionToken())
	wantCode(t, "after sign-out", err, codes.Unauthenticated)

	// Sign out everywhere.
	phone, tablet := o.signInAs(te.bob.GetEmail(), "bob builds with long passwords"), o.signInAs(te.bob.GetEmail(), "bob builds with long passwords")
	all, err := o.signIn.RevokeAllMySessions(as(phone.id), &orgv1.RevokeAllMySessionsRequest{})
	if err != nil || all.GetRevoked() != 3 {
		t.Fatalf("revoke all: %v %v", all, err)
	}
	for _, s := range []session{bob, phone, tablet} {
		_, err := o.authenticate(s.token)
		wantCode(t, "after sign-out everywhere", err, codes.Unauthenticated)
	}

	// Something of everything is left in the tables: a pending invitation with its token, an open
	// session.
	_, pending := o.invite(te.account, te.bob)
	open := o.signInAs(te.ada.GetEmail(), adaPassword)
	o.requireNoSecrets(adaPassword, "bob builds with long passwords", resp.GetSessionToken(), laptop.token, bob.token,
		phone.token, first.GetToken(), link.GetToken(), pending, open.token)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// requireNoSecrets dumps every character and byte column of every table of the org schema and
// the service's logs, and fails if any secret appears in clear.
func (o *signInOrg) requireNoSecrets(secrets ...string) {
	t := o.t
	t.Helper()
	ctx := context.Background()
	rows, err := o.db.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type = 'bytea' FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = 'org' AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'bytea', 'jsonb', 'json', 'ARRAY', 'character')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct {
		table, column string
		bytes         bool
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.table, &c.column, &c.bytes)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 20 {
		t.Fatalf("only %d columns to scan: the query is wrong", len(cols))
	}
	scanned := map[string]bool{}
	for _, c := range cols {
		// Bytes as they are (digests, protobuf payloads), everything else as its text.
		expr := fmt.Sprintf(`convert_to(%q::text, 'UTF8')`, c.column)
		if c.bytes {
			expr = fmt.Sprintf("%q", c.column)
		}
		q := fmt.Sprintf(`SELECT %s FROM org.%q WHERE %q IS NOT NULL`, expr, c.table, c.column)
		rows, err := o.db.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		values, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		for _, v := range values {
			scanned[c.table] = true
			for _, s := range secrets {
				if bytes.Contains(v, []byte(s)) {
					t.Errorf("%s.%s holds a secret in clear (%.8s...)", c.table, c.column, s)
				}
			}
		}
	}
	// The scan saw the tables that matter.
	for _, table := range []string{"user_passwords", "sessions", "session_digests", "sign_in_links", "sign_in_link_digests", "outbox", "user_email_digests"} {
		if !scanned[table] {
			t.Errorf("no value of %s was scanned", table)
		}
	}
	logs := o.logs.String()
	if !strings.Contains(logs, "request refused") {
		t.Errorf("the logs hold no refused request: the log scan would see nothing (%d bytes)", len(logs))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold a secret (%.8s...)", s)
		}
	}
}

// TestEveryFailedSignInLooksTheSame: wrong password, unknown email, a deactivated user and a user
// without a password get the same code and message; so does the right password with an
// account_id that is not the user's.
func TestEveryFailedSignInLooksTheSame(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	o.onboard(te.account, te.bob, "bob builds with long passwords")
	if _, err := o.access.UpdateUser(as(operator), &orgv1.UpdateUserRequest{AccountId: te.account,
		User: &orgv1.User{Id: te.bob.GetId(), SetActive: proto.Bool(false)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"set_active"}}}); err != nil {
		t.Fatal(err)
	}
	carol, err := o.access.CreateUser(as(operator), &orgv1.CreateUserRequest{AccountId: te.account,
		User: &orgv1.User{FirstName: "Carol", LastName: "Never", Email: "carol@contoso.example"}})
	if err != nil {
		t.Fatal(err)
	}
	// Each from its own address and email, so no throttle is involved.
	attempts := map[string]*orgv1.SignInRequest{
		"wrong password":   {Email: te.ada.GetEmail(), Password: "not the password at all"},
		"unknown email":    {Email: "nobody@contoso.example", Password: adaPassword},
		"deactivated user": {Email: te.bob.GetEmail(), Password: "bob builds with long passwords"},
		"no password yet":  {Email: carol.GetEmail(), Password: adaPassword},
		"other account":    {Email: te.ada.GetEmail(), Password: adaPassword, AccountId: "00000000-0000-4000-8000-000000000000"},
	}
	var first *status.Status
	i := 0
	for name, req := range attempts {
		i++
		start := time.Now()
		_, err := o.signIn.SignIn(fromGateway(fmt.Sprintf("203.0.113.%d", i)), req)
		took := time.Since(start)
		st := status.Convert(err)
		if st.Code() != codes.Unauthenticated || st.Message() != "email or password is wrong" || len(st.Details()) != 0 {
			t.Fatalf("%s: %v (%v)", name, err, st.Details())
		}
		if first == nil {
			first = st
		} else if !proto.Equal(first.Proto(), st.Proto()) {
			t.Fatalf("%s: %v differs from %v", name, st.Proto(), first.Proto())
		}
		// Every one of them checks a password hash (a dummy one when there is none), so none
		// answers at database speed.
		if took < 15*time.Millisecond {
			t.Errorf("%s answered in %v: no password hash was checked", name, took)
		}
	}
}

// retryDelay is the RetryInfo of a throttled answer.
func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("%v, want ResourceExhausted", err)
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("%v carries no RetryInfo", err)
	return 0
}

// TestSignInIsThrottled: after five failures for an email, known or unknown alike, the next
// attempt waits, even with the right password, with the wait in RetryInfo; a hundred wrong
// passwords in a row are all refused after the fifth; the wait grows; a success clears it. A
// hundred failures from one address, across emails, stop that address.
func TestSignInIsThrottled(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)

	for _, email := range []string{te.ada.GetEmail(), "nobody@contoso.example"} {
		for i := range 5 {
			_, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: email, Password: fmt.Sprintf("wrong password %d", i)})
			wantCode(t, fmt.Sprintf("%s failure %d", email, i+1), err, codes.Unauthenticated)
		}
	}
	var known, unknown *status.Status
	for i := range 95 {
		_, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: fmt.Sprintf("wrong again %d", i)})
		if d := retryDelay(t, err); d != time.Minute {
			t.Fatalf("attempt %d: retry after %v, want 1m", 6+i, d)
		}
		known = status.Convert(err)
	}
	_, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	if retryDelay(t, err) != time.Minute {
		t.Fatal("the right password during the wait is refused the same way")
	}
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: "nobody@contoso.example", Password: adaPassword})
	retryDelay(t, err)
	unknown = status.Convert(err)
	if !proto.Equal(known.Proto(), unknown.Proto()) {
		t.Fatalf("throttled known email %v, unknown email %v", known.Proto(), unknown.Proto())
	}

	// The wait over, another failure doubles it.
	o.clock.advance(time.Minute)
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: "still wrong, sorry"})
	wantCode(t, "after the wait", err, codes.Unauthenticated)
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	if d := retryDelay(t, err); d != 2*time.Minute {
		t.Fatalf("after a 6th failure: retry after %v, want 2m", d)
	}
	// A success clears the email's failures.
	o.clock.advance(2 * time.Minute)
	o.signInAs(te.ada.GetEmail(), adaPassword)
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: "wrong once more"})
	wantCode(t, "a failure after a success", err, codes.Unauthenticated)

	// One address, many emails: the 101st failure in the window is refused.
	o.clock.advance(time.Hour)
	const spray = "192.0.2.99"
	for i := range 100 {
		_, err := o.signIn.SignIn(fromGateway(spray), &orgv1.SignInRequest{Email: fmt.Sprintf("guess%d@contoso.example", i), Password: "Winter2026!!"})
		wantCode(t, fmt.Sprintf("spray %d", i+1), err, codes.Unauthenticated)
	}
	_, err = o.signIn.SignIn(fromGateway(spray), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	if d := retryDelay(t, err); d <= 0 || d > 15*time.Minute {
		t.Fatalf("address throttle: retry after %v", d)
	}
	// The address is attested by the gateway only: another service's metadata is ignored.
	ctx := metadata.AppendToOutgoingContext(as(identity.Service("billing")), "x-orgplane-client-address", spray)
	if _, err := o.signIn.SignIn(ctx, &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}); err != nil {
		t.Fatalf("sign-in relayed by another service was held to the gateway's address: %v", err)
	}

	// Throttling keeps digests only.
	var n int
	if err := o.db.QueryRow(context.Background(), `SELECT count(*) FROM org.sign_in_failures WHERE length(key) <> 32`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d failure keys that are not digests (%v)", n, err)
	}
}

// TestSessionsEndWhenIdleOrOld uses the test clock: unused for the idle timeout (2h) a session
// ends; in use, it still ends 12h after it was opened.
func TestSessionsEndWhenIdleOrOld(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)

	idle := o.signInAs(te.ada.GetEmail(), adaPassword)
	o.clock.advance(2*time.Hour - time.Second)
	if _, err := o.authenticate(idle.token); err != nil {
		t.Fatalf("just inside the idle timeout: %v", err)
	}
	o.clock.advance(2*time.Hour - time.Second)
	if _, err := o.authenticate(idle.token); err != nil {
		t.Fatalf("used again just inside the idle timeout: %v", err)
	}
	o.clock.advance(2 * time.Hour)
	_, err := o.authenticate(idle.token)
	wantCode(t, "idle for 2h", err, codes.Unauthenticated)
	_, err = o.signIn.GetCurrentUser(as(idle.id), &orgv1.GetCurrentUserRequest{})
	wantCode(t, "me on an idle session", err, codes.Unauthenticated)

	busy := o.signInAs(te.ada.GetEmail(), adaPassword)
	for range 11 {
		o.clock.advance(time.Hour)
		if _, err := o.authenticate(busy.token); err != nil {
			t.Fatalf("a session in use: %v", err)
		}
	}
	list, err := o.signIn.ListMySessions(as(busy.id), &orgv1.ListMySessionsRequest{})
	if err != nil || len(list.GetSessions()) != 1 || list.GetSessions()[0].GetId() != busy.id.SessionID {
		t.Fatalf("open sessions: %v %v (the idle one must not be listed)", list, err)
	}
	o.clock.advance(time.Hour)
	_, err = o.authenticate(busy.token)
	wantCode(t, "12h after sign-in", err, codes.Unauthenticated)
}

// TestDeactivationAndRoleChangesApplyToTheNextRequest: the session's identity is computed on
// every request, from the user as they are now.
func TestDeactivationAndRoleChangesApplyToTheNextRequest(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.bob, "bob builds with long passwords")
	bob := o.signInAs(te.bob.GetEmail(), "bob builds with long passwords")
	if bob.id.Has("users:write") {
		t.Fatalf("an engineer holds users:write: %v", bob.id.Permissions)
	}
	update := func(u *orgv1.User, paths ...string) {
		t.Helper()
		u.Id = te.bob.GetId()
		if _, err := o.access.UpdateUser(as(operator), &orgv1.UpdateUserRequest{AccountId: te.account, User: u,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}); err != nil {
			t.Fatal(err)
		}
	}
	update(&orgv1.User{RoleId: te.ada.GetRoleId()}, "role_id")
	now, err := o.authenticate(bob.token)
	if err != nil || !now.Has("users:write") {
		t.Fatalf("after promotion: %v %v", now.Permissions, err)
	}
	me, err := o.signIn.GetCurrentUser(as(now), &orgv1.GetCurrentUserRequest{})
	if err != nil || !contains(me.GetPermissions(), "users:write") {
		t.Fatalf("me after promotion: %v %v", me, err)
	}
	update(&orgv1.User{SetActive: proto.Bool(false)}, "set_active")
	_, err = o.authenticate(bob.token)
	wantCode(t, "a deactivated user's session", err, codes.Unauthenticated)
	_, err = o.signIn.GetCurrentUser(as(now), &orgv1.GetCurrentUserRequest{})
	wantCode(t, "me once deactivated", err, codes.Unauthenticated)
	// Inactive users are not invited either.
	_, err = o.signIn.InviteUser(as(operator), &orgv1.InviteUserRequest{AccountId: te.account, UserId: te.bob.GetId()})
	wantCode(t, "inviting a deactivated user", err, codes.FailedPrecondition)
}

// TestPasswordResetAndChange: a reset is asked for by email (the same answer whoever asks), at
// most once per 5 minutes per user, redeemed once, and closes every session; changing the
// password needs the current one and closes the other sessions.
func TestPasswordResetAndChange(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	s1, s2 := o.signInAs(te.ada.GetEmail(), adaPassword), o.signInAs(te.ada.GetEmail(), adaPassword)

	for _, email := range []string{te.ada.GetEmail(), "nobody@contoso.example", te.ada.GetEmail()} {
		if _, err := o.signIn.RequestPasswordReset(as(gateway), &orgv1.RequestPasswordResetRequest{Email: email}); err != nil {
			t.Fatalf("reset for %s: %v", email, err)
		}
	}
	resets := outboxEvents(t, o.db, "user.password_reset_requested", func() *orgv1.PasswordResetRequested { return &orgv1.PasswordResetRequested{} })
	if len(resets) != 1 || resets[0].GetUserId() != te.ada.GetId() || !resets[0].GetExpireTime().AsTime().Equal(o.clock.Now().Add(time.Hour)) {
		t.Fatalf("reset events %v: want one (the second request within 5 minutes does nothing)", resets)
	}
	link, err := o.auth.IssueSignInLink(as(notification), &orgv1.IssueSignInLinkRequest{AccountId: te.account,
		Kind: orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET, Id: resets[0].GetResetId()})
	if err != nil {
		t.Fatal(err)
	}
	// A reset token is no invitation.
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: link.GetToken(), Password: "a brand new passphrase"})
	wantInvalidField(t, "reset token as an invitation", err, "token", "not a valid invitation link")
	_, err = o.signIn.ResetPassword(as(gateway), &orgv1.ResetPasswordRequest{Token: link.GetToken(), NewPassword: "password1234"})
	wantInvalidField(t, "a common password", err, "newPassword", "most common passwords")
	if _, err := o.signIn.ResetPassword(as(gateway), &orgv1.ResetPasswordRequest{Token: link.GetToken(), NewPassword: "a brand new passphrase"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []session{s1, s2} {
		_, err := o.authenticate(s.token)
		wantCode(t, "a session after the reset", err, codes.Unauthenticated)
	}
	_, err = o.signIn.ResetPassword(as(gateway), &orgv1.ResetPasswordRequest{Token: link.GetToken(), NewPassword: "yet another passphrase"})
	wantInvalidField(t, "second use", err, "token", "not a valid password reset link")
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	wantCode(t, "the old password", err, codes.Unauthenticated)

	// Change: the current password is checked; the other sessions close, this one stays.
	cur, other := o.signInAs(te.ada.GetEmail(), "a brand new passphrase"), o.signInAs(te.ada.GetEmail(), "a brand new passphrase")
	_, err = o.signIn.ChangePassword(as(cur.id), &orgv1.ChangePasswordRequest{CurrentPassword: "not it at all", NewPassword: "the third passphrase"})
	wantInvalidField(t, "wrong current password", err, "currentPassword", "not your current password")
	_, err = o.signIn.ChangePassword(as(cur.id), &orgv1.ChangePasswordRequest{CurrentPassword: "a brand new passphrase", NewPassword: "Ada Lovelace"})
	wantInvalidField(t, "own name", err, "newPassword", "your name")
	if _, err := o.signIn.ChangePassword(as(cur.id), &orgv1.ChangePasswordRequest{CurrentPassword: "a brand new passphrase", NewPassword: "the third passphrase"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.authenticate(cur.token); err != nil {
		t.Fatalf("the session that changed the password: %v", err)
	}
	_, err = o.authenticate(other.token)
	wantCode(t, "another session after the change", err, codes.Unauthenticated)
	o.signInAs(te.ada.GetEmail(), "the third passphrase")

	// Links expire: a reset after an hour, an invitation after 72.
	o.clock.advance(10 * time.Minute)
	if _, err := o.signIn.RequestPasswordReset(as(gateway), &orgv1.RequestPasswordResetRequest{Email: te.ada.GetEmail(), AccountId: te.account}); err != nil {
		t.Fatal(err)
	}
	resets = outboxEvents(t, o.db, "user.password_reset_requested", func() *orgv1.PasswordResetRequested { return &orgv1.PasswordResetRequested{} })
	if len(resets) != 2 {
		t.Fatalf("%d reset events, want 2", len(resets))
	}
	late, err := o.auth.IssueSignInLink(as(notification), &orgv1.IssueSignInLinkRequest{AccountId: te.account,
		Kind: orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET, Id: resets[1].GetResetId()})
	if err != nil {
		t.Fatal(err)
	}
	_, invToken := o.invite(te.account, te.bob)
	o.clock.advance(time.Hour)
	_, err = o.signIn.ResetPassword(as(gateway), &orgv1.ResetPasswordRequest{Token: late.GetToken(), NewPassword: "too late for this one"})
	wantInvalidField(t, "an expired reset", err, "token", "expired")
	o.clock.advance(71 * time.Hour)
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: invToken, Password: "bob builds with long passwords"})
	wantInvalidField(t, "an expired invitation", err, "token", "expired")
}

// TestSignInTablesOutsideTheTenantPolicyHoldOnlyDigests: the lookups read before the tenant is
// known hold 32-byte digests (and ids), never a token or an email.
func TestSignInTablesOutsideTheTenantPolicyHoldOnlyDigests(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	o.signInAs(te.ada.GetEmail(), adaPassword)
	o.invite(te.account, te.bob)
	for _, table := range []string{"session_digests", "sign_in_link_digests", "user_email_digests"} {
		var n, bad int
		err := o.db.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE length(digest) <> 32) FROM org.%s`, table)).Scan(&n, &bad)
		if err != nil || n == 0 || bad != 0 {
			t.Errorf("%s: %d rows, %d not 32-byte digests (%v)", table, n, bad, err)
		}
	}
}

// TestPendingLinksFollowTheEmail: a new email address closes the user's pending invitation and
// reset links in the same change, so a link mailed to the old address no longer sets the
// password; a new invitation goes to the new address. Only another mailbox does: the same
// address in other case keeps the links.
func TestPendingLinksFollowTheEmail(t *testing.T) {
	o := startSignInOrg(t)
	te := o.newTenant("Contoso MSP")
	bobID := te.bob.GetId()
	inv, _ := o.invite(te.account, te.bob)
	if _, err := o.signIn.RequestPasswordReset(as(gateway), &orgv1.RequestPasswordResetRequest{Email: te.bob.GetEmail()}); err != nil {
		t.Fatal(err)
	}
	resets := outboxEvents(t, o.db, "user.password_reset_requested", func() *orgv1.PasswordResetRequested { return &orgv1.PasswordResetRequested{} })
	if len(resets) != 1 || resets[0].GetUserId() != bobID {
		t.Fatalf("reset events %v", resets)
	}
	// issue is the notification service emailing a link: the token it mails, and to whom.
	issue := func(kind orgv1.SignInLinkKind, id string) (*orgv1.IssueSignInLinkResponse, error) {
		return o.auth.IssueSignInLink(as(notification), &orgv1.IssueSignInLinkRequest{AccountId: te.account, Kind: kind, Id: id})
	}
	const invitation, reset = orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION, orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET
	updateEmail := func(email string) {
		t.Helper()
		if _, err := o.access.UpdateUser(as(operator), &orgv1.UpdateUserRequest{AccountId: te.account,
			User: &orgv1.User{Id: bobID, Email: email, FirstName: "Robert"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email", "first_name"}}}); err != nil {
			t.Fatal(err)
		}
	}

	// The same mailbox written otherwise: both links still pending, mailed to it.
	updateEmail(strings.ToLower(te.bob.GetEmail()))
	invLink, err := issue(invitation, inv.GetId())
	if err != nil || invLink.GetEmail() != strings.ToLower(te.bob.GetEmail()) {
		t.Fatalf("the invitation after a change of case: %v %v", invLink, err)
	}
	resetLink, err := issue(reset, resets[0].GetResetId())
	if err != nil {
		t.Fatalf("the reset after a change of case: %v", err)
	}

	// Another mailbox: the links mailed to the old one stop working, and are not mailed again.
	const newEmail = "robert@fabrikam.example"
	updateEmail(newEmail)
	_, err = o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: invLink.GetToken(), Password: bobPassword})
	wantInvalidField(t, "the invitation mailed to the old address", err, "token", "not a valid invitation link")
	_, err = o.signIn.ResetPassword(as(gateway), &orgv1.ResetPasswordRequest{Token: resetLink.GetToken(), NewPassword: bobPassword})
	wantInvalidField(t, "the reset mailed to the old address", err, "token", "not a valid password reset link")
	_, err = issue(invitation, inv.GetId())
	wantCode(t, "mailing the closed invitation again", err, codes.FailedPrecondition)
	_, err = issue(reset, resets[0].GetResetId())
	wantCode(t, "mailing the closed reset again", err, codes.FailedPrecondition)
	var pending, digests int
	if err := o.db.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM org.sign_in_links WHERE user_id = $1 AND used_at IS NULL AND closed_at IS NULL),
			(SELECT count(*) FROM org.sign_in_link_digests d JOIN org.sign_in_links l ON l.id = d.link_id WHERE l.user_id = $1)`,
		bobID).Scan(&pending, &digests); err != nil || pending != 0 || digests != 0 {
		t.Fatalf("after the change: %d pending links, %d token digests (%v), want none", pending, digests, err)
	}

	// A new invitation goes to the new address and works.
	again, err := o.signIn.InviteUser(as(operator), &orgv1.InviteUserRequest{AccountId: te.account, UserId: bobID})
	if err != nil || again.GetEmail() != newEmail {
		t.Fatalf("the new invitation: %v %v, want one for %s", again, err, newEmail)
	}
	fresh, err := issue(invitation, again.GetId())
	if err != nil || fresh.GetEmail() != newEmail {
		t.Fatalf("the new invitation is mailed to %v (%v), want %s", fresh, err, newEmail)
	}
	accepted, err := o.signIn.AcceptInvitation(as(gateway), &orgv1.AcceptInvitationRequest{Token: fresh.GetToken(), Password: bobPassword})
	if err != nil || accepted.GetEmail() != newEmail {
		t.Fatalf("accepting the new invitation: %v %v", accepted, err)
	}
	if s := o.signInAs(newEmail, bobPassword); s.id.UserID != bobID {
		t.Fatalf("signed in as %s, want Bob", s.id.UserID)
	}
}
