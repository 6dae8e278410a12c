package notificationsvc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/notification/internal/app"
)

// standInOrg is org's SignInAuthService as far as the notification service can tell: it keeps
// each link's digest only (as org does), refuses an expired or used link with FailedPrecondition
// and an unknown one with NotFound, replaces a link's token on each issue, and answers only the
// notification service. redeem is what AcceptInvitation/ResetPassword do with a token.
type standInOrg struct {
	orgv1.UnimplementedSignInAuthServiceServer

	mu      sync.Mutex
	links   map[string]*standInLink
	issued  []string // every token handed out, newest last (the tests compare the emails with them)
	calls   int
	callers []identity.Identity
	// failures are the errors the next calls return, first first.
	failures []error
	// gate, when set, holds every call until the test lets one through (release).
	gate chan struct{}
}

type standInLink struct {
	account, user, email, first string
	kind                        orgv1.SignInLinkKind
	expires                     time.Time
	used                        bool
	digest                      [32]byte
}

func newStandInOrg() *standInOrg { return &standInOrg{links: map[string]*standInLink{}} }

// link records an invitation or reset of org's.
func (o *standInOrg) link(id, account string, kind orgv1.SignInLinkKind, user, email, first string, expires time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.links[id] = &standInLink{account: account, user: user, email: email, first: first, kind: kind, expires: expires}
}

// failNext makes the next calls fail with errs, in order.
func (o *standInOrg) failNext(errs ...error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures = append(o.failures, errs...)
}

func (o *standInOrg) callCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

func (o *standInOrg) tokens() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.issued...)
}

// redeem uses the link's token once, as org's AcceptInvitation and ResetPassword do.
func (o *standInOrg) redeem(token string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sum := sha256.Sum256([]byte(token))
	for id, l := range o.links {
		if l.digest == sum {
			if l.used || time.Now().After(l.expires) {
				return "", status.Error(codes.FailedPrecondition, "the link has expired or was used")
			}
			l.used = true
			return id, nil
		}
	}
	return "", status.Error(codes.InvalidArgument, "token: is not a valid link")
}

// hold makes calls wait until released one by one, in the order they came.
func (o *standInOrg) hold() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gate = make(chan struct{})
}

func (o *standInOrg) release() { o.gate <- struct{}{} }

func (o *standInOrg) IssueSignInLink(ctx context.Context, req *orgv1.IssueSignInLinkRequest) (*orgv1.IssueSignInLinkResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	if gate := o.gate; gate != nil {
		o.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		o.mu.Lock()
	}
	caller, _ := identity.From(ctx)
	o.callers = append(o.callers, caller)
	if caller.Kind != identity.KindService || caller.PrincipalID != "notification" {
		return nil, status.Error(codes.PermissionDenied, "only the notification service may issue sign-in links")
	}
	if len(o.failures) > 0 {
		err := o.failures[0]
		o.failures = o.failures[1:]
		return nil, err
	}
	l, ok := o.links[req.GetId()]
	if !ok || l.account != req.GetAccountId() || l.kind != req.GetKind() {
		return nil, status.Error(codes.NotFound, "no such link")
	}
	switch {
	case l.used:
		return nil, status.Error(codes.FailedPrecondition, "the link was used already")
	case time.Now().After(l.expires):
		return nil, status.Error(codes.FailedPrecondition, "the link has expired; ask for a new one")
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	// Standard base64 with padding: "+", "/" and "=" must reach the reader URL-escaped.
	token := "opl_" + base64.StdEncoding.EncodeToString(b)
	l.digest = sha256.Sum256([]byte(token))
	o.issued = append(o.issued, token)
	return &orgv1.IssueSignInLinkResponse{Token: token, UserId: l.user, Email: l.email, FirstName: l.first,
		ExpireTime: timestamppb.New(l.expires)}, nil
}

// invite is org inviting user: the invitation and its event.
func (a *account) invite(user, email, first string, expires time.Time) (string, *orgv1.UserInvited) {
	id := uuid.NewString()
	a.w.orgLinks.link(id, a.id, orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_INVITATION, user, email, first, expires)
	return id, &orgv1.UserInvited{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(), InvitationId: id,
		UserId: user, ExpireTime: timestamppb.New(expires)}
}

// reset is org's password reset for user and its event.
func (a *account) reset(user, email, first string, expires time.Time) (string, *orgv1.PasswordResetRequested) {
	id := uuid.NewString()
	a.w.orgLinks.link(id, a.id, orgv1.SignInLinkKind_SIGN_IN_LINK_KIND_PASSWORD_RESET, user, email, first, expires)
	return id, &orgv1.PasswordResetRequested{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(), ResetId: id,
		UserId: user, ExpireTime: timestamppb.New(expires)}
}

// linkToken reads the token of the link to page in an email's plain text, as a browser would.
func linkToken(t *testing.T, m mailsink.Message, page string) string {
	t.Helper()
	found := regexp.MustCompile(regexp.QuoteMeta("https://app.orgplane.test"+page+"?token=") + `\S+`).FindString(m.Text)
	if found == "" {
		t.Fatalf("no link to %s in:\n%s", page, m.Text)
	}
	u, err := url.Parse(found)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// requireNowhere fails if secret is in any row of the service's schema (in clear or URL-escaped)
// or in what it logged.
func (w *world) requireNowhere(secret string) {
	w.t.Helper()
	rows, err := w.inspect.Query(w.ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'notification' AND table_type = 'BASE TABLE'`)
	if err != nil {
		w.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			w.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if rows.Err() != nil || len(tables) < 5 {
		w.t.Fatalf("the schema's tables: %v (%v)", tables, rows.Err())
	}
	for _, form := range []string{secret, url.QueryEscape(secret), strings.TrimPrefix(secret, "opl_")[:20]} {
		for _, table := range tables {
			if n := w.count(`SELECT count(*) FROM notification.`+table+` x WHERE x::text LIKE '%' || $1 || '%'`, form); n != 0 {
				w.t.Errorf("table %s holds the link's token (%q)", table, form)
			}
		}
		if strings.Contains(w.logs.String(), form) {
			w.t.Errorf("the service logged the link's token (%q)", form)
		}
	}
}

func TestAnInvitationEmailsOrgsFreshLinkAndKeepsNoTrace(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso <MSP> & Co", "America/Chicago", orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY)
	bob := a.user("Bob", "bob@contoso.test", false)
	expires := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	invitation, ev := a.invite(bob, "bob@contoso.test", "Bob", expires)
	if !w.org(ev) {
		t.Fatal("the event was not applied")
	}
	ms := w.waitMail(1, 5*time.Second)
	m := ms[0]
	if m.Subject != "Contoso <MSP> & Co invited you to Orgplane" || len(m.To) != 1 || m.To[0] != "bob@contoso.test" {
		t.Fatalf("email to %v: %q", m.To, m.Subject)
	}
	issued := w.orgLinks.tokens()
	if len(issued) != 1 {
		t.Fatalf("org issued %d links, want 1", len(issued))
	}
	token := linkToken(t, m, "/invitations/accept")
	if token != issued[0] {
		t.Fatalf("the email's token %q is not the one org issued (%q)", token, issued[0])
	}
	if !strings.Contains(m.HTML, `href="https://app.orgplane.test/invitations/accept?token=`+url.QueryEscape(token)+`"`) {
		t.Errorf("the HTML's button does not carry the link:\n%s", m.HTML)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	until := expires.In(chicago).Format("02/01/2006 15:04 MST")
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "Hello Bob") || !strings.Contains(part, until) {
			t.Errorf("the body lacks the greeting or the expiry %q in the account's zone and format:\n%s", until, part)
		}
	}
	if strings.Contains(m.HTML, "<MSP>") || !strings.Contains(m.HTML, "Contoso &lt;MSP&gt; &amp; Co") {
		t.Errorf("the HTML does not escape the company name:\n%s", m.HTML)
	}
	if len(m.Header["List-Unsubscribe"]) != 0 || strings.Contains(m.Text, "/unsubscribe") {
		t.Errorf("an invitation offers to unsubscribe: %v", m.Header["List-Unsubscribe"])
	}
	if !strings.Contains(m.Text, "invited this address") {
		t.Errorf("the text does not say why it came:\n%s", m.Text)
	}
	// Only org's own service identity asked, as the notification service.
	if c := w.orgLinks.callers[0]; c.Kind != identity.KindService || c.PrincipalID != "notification" {
		t.Errorf("the link was asked for as %+v", c)
	}
	// The token works once where the link leads.
	if id, err := w.orgLinks.redeem(token); err != nil || id != invitation {
		t.Fatalf("redeeming the email's token: %v, %v", id, err)
	}

	// The record: one email delivery, sent, to bob, without bodies and without the token. The
	// sender marks it sent once the SMTP server has taken it, just after the sink holds it.
	w.settle()
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE kind = 7 AND channel = 1 AND status = 2 AND link_id = $1
		AND user_id = $2 AND address = 'bob@contoso.test' AND text_body = '' AND html_body = '' AND unsubscribe_url = ''`,
		invitation, bob); n != 1 {
		t.Fatalf("%d sent invitation deliveries on record, want 1", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries`); n != 1 {
		t.Fatalf("%d deliveries, want the email's only (no in-app entry)", n)
	}
	list, err := w.api().ListDeliveries(a.as(bob), &notificationv1.ListDeliveriesRequest{AccountId: a.id})
	if err != nil || len(list.GetDeliveries()) != 1 || list.GetDeliveries()[0].GetSubject() != m.Subject ||
		list.GetDeliveries()[0].GetStatus() != notificationv1.DeliveryStatus_DELIVERY_STATUS_SENT {
		t.Fatalf("ListDeliveries: %v (%v)", list.GetDeliveries(), err)
	}
	w.requireNowhere(token)

	// The event again: nothing more, and no new link.
	if w.org(ev) {
		t.Fatal("a redelivered event was applied again")
	}
	w.settle()
	if len(w.sink.Messages()) != 1 || w.orgLinks.callCount() != 1 {
		t.Fatalf("after a redelivery: %d emails, %d links asked", len(w.sink.Messages()), w.orgLinks.callCount())
	}
}

func TestAPasswordResetIsSentWhateverThePreferencesAndTheCap(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	ann := a.user("Ann", "ann@contoso.test", true)
	bob := a.user("Bob", "bob@contoso.test", false)
	// bob turned every kind of email off; the account may send one email an hour.
	var off []*notificationv1.Preference
	for k := notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED; k <= notificationv1.NotificationKind_NOTIFICATION_KIND_INTEGRATION_TROUBLE; k++ {
		off = append(off, &notificationv1.Preference{Kind: k, Email: false, InApp: true})
	}
	if _, err := w.api().UpdateNotificationPreferences(a.as(bob), &notificationv1.UpdateNotificationPreferencesRequest{AccountId: a.id,
		Preferences: &notificationv1.NotificationPreferences{Preferences: off}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.api().UpdateNotificationSettings(a.as(ann), &notificationv1.UpdateNotificationSettingsRequest{AccountId: a.id,
		Settings: &notificationv1.NotificationSettings{HourlyEmailCap: 1}}); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	// Org's address wins over the copy this service has (bob changed it in org a moment ago).
	_, first := a.reset(bob, "robert@contoso.test", "Robert", expires)
	_, second := a.reset(bob, "robert@contoso.test", "Robert", expires)
	w.org(first)
	w.org(second)
	ms := w.waitMail(2, 5*time.Second)
	for i, m := range ms {
		if m.Subject != "Reset your Orgplane password" || m.To[0] != "robert@contoso.test" || !strings.Contains(m.Text, "Hello Robert") ||
			!strings.Contains(m.Text, expires.Format("2006-01-02 15:04 UTC")) {
			t.Fatalf("email %d to %v: %q\n%s", i, m.To, m.Subject, m.Text)
		}
		if got := linkToken(t, m, "/passwordResets/complete"); !containsString(w.orgLinks.tokens(), got) {
			t.Fatalf("email %d carries a token org never issued", i)
		}
		if len(m.Header["List-Unsubscribe"]) != 0 {
			t.Fatalf("a reset email offers to unsubscribe")
		}
	}
	// Neither counted against the cap: the account's one email of the hour is still there.
	w.sink.Reset()
	w.org(a.ownerChanged(a.review("Q1"), "", ann, time.Now()))
	w.waitMail(1, 5*time.Second)
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE kind = 8 AND status = 2 AND address = 'robert@contoso.test'`); n != 2 {
		t.Fatalf("%d reset emails recorded sent to org's address, want 2", n)
	}
	for _, tok := range w.orgLinks.tokens() {
		w.requireNowhere(tok)
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestALinkOrgRefusesIsSkippedAndANewInvitationWorks(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	bob := a.user("Bob", "bob@contoso.test", false)
	// The invitation expired before its email went out (the service was down for days).
	expired, ev := a.invite(bob, "bob@contoso.test", "Bob", time.Now().Add(-time.Minute))
	w.org(ev)
	deadline := time.Now().Add(5 * time.Second)
	for w.count(`SELECT count(*) FROM notification.deliveries WHERE link_id = $1 AND status = 4`, expired) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refused invitation was not recorded skipped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.settle()
	if n := w.orgLinks.callCount(); n != 1 {
		t.Fatalf("org was asked %d times for a link it refused, want once", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.send_queue`); n != 0 {
		t.Fatalf("%d emails still queued after org's refusal", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE status = 4 AND error = 'org issued no link: the link has expired; ask for a new one'`); n != 1 {
		t.Fatalf("the skipped delivery does not say org's reason")
	}
	if len(w.sink.Messages()) != 0 {
		t.Fatalf("emails were sent: %v", subjects(w.sink.Messages()))
	}

	// An administrator invites bob again: a new invitation, whose email arrives and whose link
	// works once.
	_, again := a.invite(bob, "bob@contoso.test", "Bob", time.Now().Add(72*time.Hour))
	w.org(again)
	m := w.waitMail(1, 5*time.Second)[0]
	token := linkToken(t, m, "/invitations/accept")
	if _, err := w.orgLinks.redeem(token); err != nil {
		t.Fatalf("the new invitation's link: %v", err)
	}
	if _, err := w.orgLinks.redeem(token); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("the link used twice: %v", err)
	}
	// An email for a link already used (org sends user.invited again for it, say) is skipped too.
	w.sink.Reset()
	dup := proto.Clone(again).(*orgv1.UserInvited)
	dup.EventId = uuid.NewString()
	w.org(dup)
	w.settle()
	if len(w.sink.Messages()) != 0 || w.count(`SELECT count(*) FROM notification.deliveries WHERE event_id = $1 AND status = 4
		AND error = 'org issued no link: the link was used already'`, dup.EventId) != 1 {
		t.Fatalf("an email for a used link: %v", subjects(w.sink.Messages()))
	}
}

func TestAnUnreachableOrgDelaysTheEmailAndAnotherFailureGivesItUp(t *testing.T) {
	w := newWorld(t, func(c *app.Config) { c.MaxAttempts = 2 })
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	bob := a.user("Bob", "bob@contoso.test", false)
	unavailable := status.Error(codes.Unavailable, "org is restarting")
	w.orgLinks.failNext(unavailable, unavailable, unavailable, unavailable)
	_, ev := a.invite(bob, "bob@contoso.test", "Bob", time.Now().Add(time.Hour))
	w.org(ev)
	m := w.waitMail(1, 10*time.Second)[0]
	if linkToken(t, m, "/invitations/accept") != w.orgLinks.tokens()[0] {
		t.Fatal("the email's token is not the one org issued")
	}
	// The sink has the email a moment before the sender records it sent.
	waitFor(t, "the delivery recorded sent after 4 tries org missed and 1 that worked", func() bool {
		return w.count(`SELECT count(*) FROM notification.deliveries WHERE event_id = $1 AND status = 2 AND attempts = 5`, ev.EventId) == 1
	})

	// A failure that is neither a refusal nor an outage counts: after MaxAttempts, failed.
	internal := status.Error(codes.Internal, "internal error (correlation id x)")
	w.orgLinks.failNext(internal, internal, internal)
	_, ev2 := a.invite(bob, "bob@contoso.test", "Bob", time.Now().Add(time.Hour))
	w.org(ev2)
	deadline := time.Now().Add(5 * time.Second)
	for w.count(`SELECT count(*) FROM notification.deliveries WHERE event_id = $1 AND status = 3 AND attempts = 2`, ev2.EventId) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the email was not given up after MaxAttempts failed tries")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := w.count(`SELECT count(*) FROM notification.send_queue`); n != 0 {
		t.Fatalf("%d emails still queued", n)
	}
}

func TestOnlyTheNewestEmailOfALinkIsSent(t *testing.T) {
	w := newWorld(t)
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	bob := a.user("Bob", "bob@contoso.test", false)
	// The first email is being sent (org is slow to answer) when org asks for the same link
	// again: each issue replaces the link's token, so the first email must not go out.
	w.orgLinks.hold()
	invitation, ev := a.invite(bob, "bob@contoso.test", "Bob", time.Now().Add(time.Hour))
	w.org(ev)
	waitFor(t, "the first email's link to be asked for", func() bool { return w.orgLinks.callCount() == 1 })
	again := &orgv1.UserInvited{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.Now(), InvitationId: invitation,
		UserId: bob, ExpireTime: ev.ExpireTime}
	w.org(again)
	waitFor(t, "the second email's link to be asked for", func() bool { return w.orgLinks.callCount() == 2 })
	w.orgLinks.release()
	waitFor(t, "the first link", func() bool { return len(w.orgLinks.tokens()) == 1 })
	w.orgLinks.release()
	m := w.waitMail(1, 5*time.Second)[0]
	w.settle()
	if n := len(w.sink.Messages()); n != 1 {
		t.Fatalf("%d emails for one link, want 1", n)
	}
	if tokens := w.orgLinks.tokens(); len(tokens) != 2 || linkToken(t, m, "/invitations/accept") != tokens[1] {
		t.Fatal("the email does not carry the link's newest token")
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE event_id = $1 AND status = 4 AND error = $2`,
		ev.EventId, "a newer email for the same link replaced it"); n != 1 {
		t.Fatal("the older email is not recorded as replaced")
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE event_id = $1 AND status = 2`, again.EventId); n != 1 {
		t.Fatal("the newer email is not recorded sent")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
