package notificationsvc_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// world is one test's notification service: a private database, a real SMTP server (the mail
// sink) and one or more replicas over them, each with its workers and its gRPC server. Events
// reach the consumers the way JetStream hands them over (Consumer.Apply).
type world struct {
	t        *testing.T
	ctx      context.Context
	db       *testkit.DB
	sink     *mailsink.Sink
	keys     *identity.Keyring
	inspect  *pgx.Conn
	replicas []*replica
	adjust   func(*app.Config)
	// orgLinks stands in for org's SignInAuthService (the whole-suite tests issue links with the real
	// one); orgConn reaches it as a peer does, with the service's identity.
	orgLinks *standInOrg
	orgConn  *grpc.ClientConn
	// logs holds everything the replicas logged.
	logs *logBuffer
}

// logBuffer collects log output across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replica is one process of the service.
type replica struct {
	consumers map[string]*events.Consumer
	api       notificationv1.NotificationServiceClient
	unsub     notificationv1.UnsubscribeServiceClient
}

// fast shortens every wait so that retries, polls and digests happen within a test.
func fast(c *app.Config) {
	c.Poll = 50 * time.Millisecond
	c.Lease = 2 * time.Second
	c.RetryBase = 50 * time.Millisecond
	c.RetryMax = 200 * time.Millisecond
	c.WebBaseURL = "https://app.orgplane.test"
}

func newWorld(t *testing.T, adjust ...func(*app.Config)) *world {
	t.Helper()
	spec := notificationsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	sink, err := mailsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	w := &world{t: t, ctx: context.Background(), db: db, sink: sink, keys: testkit.Keyring(t), logs: &logBuffer{}}
	w.adjust = func(c *app.Config) {
		fast(c)
		for _, f := range adjust {
			f(c)
		}
	}
	if w.inspect, err = pgx.Connect(w.ctx, db.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.inspect.Close(context.Background()) })
	w.orgLinks = newStandInOrg()
	orgSrv, err := rpc.NewServer(slog.New(slog.DiscardHandler), w.keys, rpc.ServiceName("org"))
	if err != nil {
		t.Fatal(err)
	}
	orgv1.RegisterSignInAuthServiceServer(orgSrv, w.orgLinks)
	if w.orgConn, err = rpc.Dial(testkit.ServeGRPC(t, orgSrv), w.keys, rpc.Audience("org")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.orgConn.Close() })
	w.addReplica()
	return w
}

// addReplica starts another process of the service over the world's database and mail sink.
func (w *world) addReplica() *replica {
	w.t.Helper()
	spec := notificationsvc.Spec(notificationsvc.WithMail(notificationsvc.MailOptions{Addr: w.sink.Addr(), TLS: "none",
		Username: "orgplane", Password: "secret"}), notificationsvc.WithConfig(w.adjust), notificationsvc.WithAccounts(goodStanding{}))
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := rpc.NewServer(log, w.keys)
	if err != nil {
		w.t.Fatal(err)
	}
	parts, err := spec.New(w.ctx, platform.Deps{Log: log, Pool: w.db.Pool, Keys: w.keys, Server: srv,
		Peers: map[string]*grpc.ClientConn{"org": w.orgConn}})
	if err != nil {
		w.t.Fatal(err)
	}
	r := &replica{consumers: map[string]*events.Consumer{}}
	for _, cs := range parts.Consumers {
		if r.consumers[cs.Durable], err = events.NewConsumer(nil, w.db.Pool, log, cs); err != nil {
			w.t.Fatal(err)
		}
	}
	conn, err := rpc.Dial(testkit.ServeGRPC(w.t, srv), w.keys)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { conn.Close() })
	r.api, r.unsub = notificationv1.NewNotificationServiceClient(conn), notificationv1.NewUnsubscribeServiceClient(conn)
	ctx, cancel := context.WithCancel(w.ctx)
	var wg sync.WaitGroup
	for _, run := range parts.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	// Registered after the database's, so it runs first: the workers stop before it is dropped.
	w.t.Cleanup(func() { cancel(); wg.Wait() })
	w.replicas = append(w.replicas, r)
	return r
}

// api is the first replica's NotificationService.
func (w *world) api() notificationv1.NotificationServiceClient { return w.replicas[0].api }

// deliver hands ev to the first replica's durable consumer and reports whether it was applied
// (false: a redelivery of an event already applied).
func (w *world) deliver(durable string, ev proto.Message) bool {
	w.t.Helper()
	kind, err := events.KindOf(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	m := ev.ProtoReflect()
	field := func(name string) string {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
	}
	account, eventID := field("account_id"), field("event_id")
	subject, err := kind.SubjectFor(account)
	if err != nil {
		w.t.Fatal(err)
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	c, ok := w.replicas[0].consumers[durable]
	if !ok {
		w.t.Fatalf("no consumer %s", durable)
	}
	applied, err := c.Apply(w.ctx, events.Delivery{EventID: eventID, AccountID: account, Subject: subject,
		Type: string(kind.Type), Data: data, Attempt: 1})
	if err != nil {
		w.t.Fatalf("apply %s: %v", subject, err)
	}
	return applied
}

// org delivers one of org's events.
func (w *world) org(ev proto.Message) bool { w.t.Helper(); return w.deliver("notification-org", ev) }

// account is a tenant as org's events describe it.
type account struct {
	id string
	w  *world
}

func (w *world) account(name, zone string, format orgv1.DateFormat) *account {
	w.t.Helper()
	a := &account{id: uuid.NewString(), w: w}
	w.org(&orgv1.AccountCreated{EventId: uuid.NewString(), AccountId: a.id, DisplayName: name, OccurredAt: timestamppb.Now()})
	w.org(&orgv1.AccountSettingsUpdated{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(),
		Settings: &orgv1.AccountSettings{CompanyName: name, TimeZone: zone, DateFormat: format}})
	return a
}

// settings delivers org's account settings with its recipient lists.
func (a *account) orgRecipients(zone string, format orgv1.DateFormat, ownership, reviews []string) {
	a.w.t.Helper()
	a.w.org(&orgv1.AccountSettingsUpdated{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(),
		Settings: &orgv1.AccountSettings{TimeZone: zone, DateFormat: format, AssignOwnershipRecipientIds: ownership,
			AssignReviewsRecipientIds: reviews}})
}

// user adds a user to the account and returns its id.
func (a *account) user(first, email string, admin bool) string {
	a.w.t.Helper()
	id := uuid.NewString()
	a.w.org(&orgv1.UserCreated{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(), Administrator: admin,
		User: &orgv1.User{Id: id, FirstName: first, LastName: "Test", Email: email, Active: true, AllOrganizations: true}})
	return id
}

// as is the context of a user of the account calling with every notifications permission.
func (a *account) as(userID string) context.Context {
	return identity.With(context.Background(), identity.Identity{Kind: identity.KindUser, PrincipalID: userID, AccountID: a.id,
		UserID: userID, Permissions: []string{"notifications:read", "notifications:write"}})
}

// review is a review of the account's organization "Acme".
type review struct {
	id, org, title string
}

func (a *account) review(title string) review {
	return review{id: uuid.NewString(), org: uuid.NewString(), title: title}
}

// ownerChanged is org's event for a review's engineer going from prev to next.
func (a *account) ownerChanged(r review, prev, next string, at time.Time) *orgv1.ReviewOwnerChanged {
	return &orgv1.ReviewOwnerChanged{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.New(at), ReviewId: r.id,
		ReviewTitle: r.title, OrganizationId: r.org, OrganizationName: "Acme", Role: orgv1.ReviewRole_REVIEW_ROLE_ENGINEER,
		PreviousAssigneeId: prev, NewAssigneeId: next, DueDate: "2027-01-15"}
}

// waitMail waits until the sink holds at least n messages and returns them.
func (w *world) waitMail(n int, within time.Duration) []mailsink.Message {
	w.t.Helper()
	deadline := time.After(within)
	for {
		changed := w.sink.Changed()
		if ms := w.sink.Messages(); len(ms) >= n {
			return ms
		}
		select {
		case <-changed:
		case <-deadline:
			ms := w.sink.Messages()
			w.t.Fatalf("%d emails arrived within %v, want %d: %v", len(ms), within, n, subjects(ms))
		}
	}
}

// settle waits long enough for any email still on its way to arrive (several worker polls).
func (w *world) settle() { time.Sleep(400 * time.Millisecond) }

func subjects(ms []mailsink.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.Join(m.To, ",") + ": " + m.Subject
	}
	return out
}

// to returns the messages sent to address.
func to(ms []mailsink.Message, address string) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range ms {
		for _, r := range m.To {
			if strings.EqualFold(r, address) {
				out = append(out, m)
			}
		}
	}
	return out
}

// count reads one number with the superuser connection (across row-level security).
func (w *world) count(q string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.inspect.QueryRow(w.ctx, q, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// goodStanding stands in for org's answer about the account's subscription (the whole-suite
// tests hold writes to the real one).
type goodStanding struct{}

func (goodStanding) RequireWritable(context.Context, identity.Identity, string) error { return nil }
