package orgsvc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// liveOrg is the org service as it runs in production, alone: platform.Serve over its own fresh
// Postgres database and an embedded JetStream server, called over gRPC with signed identities,
// with a reader on the stream its events land in. Only the clock is the test's. Callers act
// through identities built the way the gateway builds them, from API keys created through the
// API (see tenant and keyFor), so permissions come from real roles.
type liveOrg struct {
	t     testing.TB
	clock *movableClock
	// dbURL connects to the service's database as the superuser, for fault injection.
	dbURL string

	accounts orgv1.AccountServiceClient
	access   orgv1.AccessServiceClient
	auth     orgv1.AuthServiceClient
	orgs     orgv1.OrganizationServiceClient
	reviews  orgv1.ReviewServiceClient
	signIn   orgv1.SignInServiceClient
	licenses orgv1.LicenseServiceClient
	syncs    orgv1.OrganizationSyncServiceClient

	events *eventLog
	fences int

	bus *testkit.NATS
	// integrationSync publishes as integration-sync does; made on first use (publishSync).
	integrationSync *integrationSyncOutbox
}

// movableClock is the service's time; tests move it forward to age organizations.
type movableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *movableClock) addMonths(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.AddDate(0, n, 0)
}

// liveLog discards the service's logs unless ORGPLANE_TEST_LOG is set.
func liveLog() *slog.Logger {
	if os.Getenv("ORGPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startLiveOrg(t testing.TB) *liveOrg {
	t.Helper()
	clock := &movableClock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)}
	spec := orgsvc.Spec(orgsvc.WithClock(clock.Now))
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	bus := testkit.StartNATS(t)
	makeIntegrationSyncStream(t, bus)
	keys := testkit.Keyring(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The service connects to NATS as production does: with a credential of exactly its rights.
	perms, err := platform.NATSPermissions(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- platform.Serve(ctx, spec, platform.Options{
			Log: liveLog(), Keys: keys, DB: db.Config, NATS: bus.As(t, "org", perms), GRPC: lis, Ready: ready,
		})
	}()
	// Registered after the database and NATS, so it runs before they go away.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("org service stopped with %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("org service did not start: %v", err)
	}
	conn, err := rpc.Dial(lis.Addr().String(), keys, rpc.Audience("org"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &liveOrg{
		t: t, clock: clock, dbURL: db.URL,
		accounts: orgv1.NewAccountServiceClient(conn), access: orgv1.NewAccessServiceClient(conn),
		auth: orgv1.NewAuthServiceClient(conn), orgs: orgv1.NewOrganizationServiceClient(conn),
		reviews: orgv1.NewReviewServiceClient(conn), licenses: orgv1.NewLicenseServiceClient(conn),
		signIn: orgv1.NewSignInServiceClient(conn),
		syncs:  orgv1.NewOrganizationSyncServiceClient(conn),
		events: readEvents(t, bus),
		bus:    bus,
	}
}

// makeIntegrationSyncStream makes the stream integration-sync publishes into, as integration-sync
// does when it starts. integration-sync does not run here, and org's consumer of its events
// (org-syncs) cannot start without the stream: the service would not be ready.
func makeIntegrationSyncStream(t testing.TB, bus *testkit.NATS) {
	t.Helper()
	streams, err := events.StreamsOf(&integrationsyncv1.OrganizationSyncChanged{})
	if err != nil {
		t.Fatal(err)
	}
	perms, err := events.ServicePermissions("integration-sync", streams, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(bus.As(t, "integration-sync-streams", perms), "integration-sync", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, streams...); err != nil {
		t.Fatal(err)
	}
}

// integrationSyncOutbox is integration-sync's way of publishing, without the rest of it: an
// outbox in a database of its own, relayed to JetStream with integration-sync's credential. What
// org's consumer receives went the way integration-sync's events go.
type integrationSyncOutbox struct {
	pool  *pgxpool.Pool
	relay *events.Relay
}

// publishSync publishes ev, an integration-sync event, through integration-sync's outbox and
// waits until org's org-syncs consumer has applied it.
func (o *liveOrg) publishSync(ev proto.Message) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if o.integrationSync == nil {
		const schema = "integration_sync"
		db := testkit.NewDB(o.t, schema, "orgplane_integration_sync", events.Migrations())
		streams, err := events.StreamsOf(ev)
		if err != nil {
			o.t.Fatal(err)
		}
		perms, err := events.ServicePermissions("integration-sync", streams, nil)
		if err != nil {
			o.t.Fatal(err)
		}
		nc, js, err := events.Connect(o.bus.As(o.t, "integration-sync", perms), "integration-sync", slog.New(slog.DiscardHandler))
		if err != nil {
			o.t.Fatal(err)
		}
		o.t.Cleanup(nc.Close)
		o.integrationSync = &integrationSyncOutbox{pool: db.Pool, relay: events.NewRelay(db.Pool, js, slog.New(slog.DiscardHandler), schema)}
	}
	var eventID string
	err := pgx.BeginFunc(ctx, o.integrationSync.pool, func(tx pgx.Tx) error {
		var err error
		eventID, err = events.Enqueue(ctx, tx, ev)
		return err
	})
	if err != nil {
		o.t.Fatal(err)
	}
	for {
		n, err := o.integrationSync.relay.Drain(ctx)
		if err != nil {
			o.t.Fatalf("relay integration-sync's outbox: %v", err)
		}
		if n == 0 {
			break
		}
	}
	o.waitApplied("org-syncs", eventID)
}

// waitApplied waits until consumer has applied the event eventID (its mark in processed_events).
func (o *liveOrg) waitApplied(consumer, eventID string) {
	o.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var done bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM org.processed_events WHERE consumer = $1 AND event_id = $2)`,
			consumer, eventID).Scan(&done)
		if err != nil {
			o.t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("%s did not apply event %s within 10 s", consumer, eventID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gatewayOperator is the identity the gateway gives the platform operator's credential.
var gatewayOperator = identity.Identity{Kind: identity.KindOperator, PrincipalID: "operator"}

// authenticate resolves an API key the way the gateway does on every REST request: it asks the
// org service, as the gateway service, and turns the answer into the identity it signs for the
// call.
func (o *liveOrg) authenticate(secret string) (identity.Identity, error) {
	ctx, cancel := context.WithTimeout(as(identity.Service("gateway")), 5*time.Second)
	defer cancel()
	resp, err := o.auth.AuthenticateApiKey(ctx, &orgv1.AuthenticateApiKeyRequest{Digest: identity.APIKeyDigest(secret)})
	if err != nil {
		return identity.Identity{}, err
	}
	return identity.Identity{
		Kind: identity.KindAPIKey, PrincipalID: resp.GetApiKeyId(), AccountID: resp.GetAccountId(),
		UserID: resp.GetUserId(), Permissions: resp.GetPermissions(),
		RestrictedToGroups: resp.GetRestrictedToGroups(), Groups: resp.GetGroupIds(),
	}, nil
}

// caller is the context of a call made with an API key, as the gateway would make it.
func (o *liveOrg) caller(secret string) context.Context {
	o.t.Helper()
	id, err := o.authenticate(secret)
	if err != nil {
		o.t.Fatalf("authenticate: %v", err)
	}
	return as(id)
}

// tenant is an MSP's account, created by the platform operator, and its administrator.
type tenant struct {
	id      string
	adminID string // the administrator's user id
	// admin calls with the administrator's API key (role IT Provider Admin).
	admin context.Context
}

func (o *liveOrg) newTenant(name string) tenant {
	o.t.Helper()
	resp, err := o.accounts.CreateAccount(as(gatewayOperator), &orgv1.CreateAccountRequest{
		Account:       &orgv1.Account{DisplayName: name},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"},
	})
	if err != nil {
		o.t.Fatalf("create account %q: %v", name, err)
	}
	return tenant{id: resp.GetAccount().GetId(), adminID: resp.GetAdministrator().GetId(), admin: o.caller(resp.GetAdministratorApiKey())}
}

func (o *liveOrg) roleID(a tenant, name string) string {
	o.t.Helper()
	for _, r := range o.roles(a) {
		if r.GetName() == name {
			return r.GetId()
		}
	}
	o.t.Fatalf("no role %q", name)
	return ""
}

// keyFor adds a user with a role (seeing only groups, if any are given) and an API key acting as
// them, both through the API as the administrator; it returns the user and the key's secret.
func (o *liveOrg) keyFor(a tenant, email, role string, groups ...string) (userID, secret string) {
	o.t.Helper()
	roleID := o.roleID(a, role)
	u, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
		FirstName: "Test", LastName: email, Email: email, RoleId: roleID,
		AllOrganizations: len(groups) == 0, GroupIds: groups,
	}})
	if err != nil {
		o.t.Fatalf("create user %s: %v", email, err)
	}
	k, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{
		Name: email + " key", RoleId: roleID, UserId: u.GetId(),
	}})
	if err != nil {
		o.t.Fatalf("create API key for %s: %v", email, err)
	}
	return u.GetId(), k.GetSecret()
}

// createOrg creates an organization as the account's administrator.
func (o *liveOrg) createOrg(a tenant, org *orgv1.Organization) *orgv1.Organization {
	o.t.Helper()
	got, err := o.orgs.CreateOrganization(a.admin, &orgv1.CreateOrganizationRequest{AccountId: a.id, Organization: org})
	if err != nil {
		o.t.Fatalf("create organization %q: %v", org.GetName(), err)
	}
	return got
}

// eventLog collects every message of the org service's stream, in stream order.
type eventLog struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
}

// readEvents follows the JetStream stream org publishes into, from its first message. The stream
// is found by subject, as a consumer in another service would; the service creates it as it starts.
func readEvents(t testing.TB, bus *testkit.NATS) *eventLog {
	t.Helper()
	nc, err := nats.Connect(bus.URL, nats.UserCredentials(bus.Admin().CredsFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stream string
	for {
		stream, err = js.StreamNameBySubject(ctx, "orgplane.org.v1.*.organization.created")
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) || ctx.Err() != nil {
			t.Fatalf("org's stream: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"orgplane.org.v1.>"}})
	if err != nil {
		t.Fatal(err)
	}
	l := &eventLog{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		l.mu.Lock()
		l.msgs = append(l.msgs, m)
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return l
}

func (l *eventLog) snapshot() []jetstream.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// count is how many events on subject (a pattern: * stands for the account) are in the stream
// so far (see settle).
func (l *eventLog) count(subject string) int {
	n := 0
	for _, m := range l.snapshot() {
		if subjectMatches(subject, m.Subject()) {
			n++
		}
	}
	return n
}

// subjectMatches reports whether subject is one of pattern's, where a * token stands for any one
// token (the account).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	if len(p) != len(s) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != s[i] {
			return false
		}
	}
	return true
}

// waitEvent waits for an event on subject whose payload satisfies match and returns it.
func waitEvent[T proto.Message](o *liveOrg, subject string, match func(T) bool) T {
	o.t.Helper()
	var zero T
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range o.events.snapshot() {
			if !subjectMatches(subject, m.Subject()) {
				continue
			}
			v := zero.ProtoReflect().Type().New().Interface().(T)
			if err := proto.Unmarshal(m.Data(), v); err != nil {
				o.t.Fatalf("%s: %v", subject, err)
			}
			if match(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("no %s event matched within 10 s", subject)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle makes one more change in the account (a new user) and waits for its event. Events
// leave the outbox in commit order, so once it is in the stream every event of the changes
// made before it is too: counts taken after settle are final, without sleeping.
func (o *liveOrg) settle(a tenant) {
	o.t.Helper()
	o.fences++
	email := fmt.Sprintf("fence-%d@fence.example", o.fences)
	u, err := o.access.CreateUser(as(gatewayOperator), &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
		FirstName: "Fence", LastName: "Fence", Email: email, RoleId: o.roleID(a, "Engineer"), AllOrganizations: true,
	}})
	if err != nil {
		o.t.Fatal(err)
	}
	waitEvent(o, "orgplane.org.v1.*.user.created", func(e *orgv1.UserCreated) bool { return e.GetUser().GetId() == u.GetId() })
}

// checkCode reports an error unless err has the gRPC code want.
func checkCode(t testing.TB, what string, err error, want codes.Code) bool {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
		return false
	}
	return true
}

// requireCode stops the test unless err has the gRPC code want.
func requireCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if !checkCode(t, what, err, want) {
		t.FailNow()
	}
}

// fieldViolations are the fields a google.rpc.BadRequest detail of err names.
func fieldViolations(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// requireInvalidField fails unless err is InvalidArgument naming field in its BadRequest detail
// and in its message.
func requireInvalidField(t testing.TB, what string, err error, field string) {
	t.Helper()
	requireCode(t, what, err, codes.InvalidArgument)
	if fields := fieldViolations(err); !slices.Contains(fields, field) {
		t.Fatalf("%s: BadRequest names %v, want %s (%v)", what, fields, field, err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, field) {
		t.Fatalf("%s: message %q does not name %s", what, msg, field)
	}
}

// errorReason is the google.rpc.ErrorInfo reason of err, if any.
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}
