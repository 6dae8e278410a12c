package notificationsvc_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
)

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := notificationsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	testkit.RequireTenantTablesProtected(t, db, testkit.Outbox,
		testkit.Exception{Table: "send_queue", Reason: "the email senders claim due emails of every account before they know the tenant"},
		testkit.Exception{Table: "reminder_queue", Reason: "the reminder workers find reviews that fell quiet in every account before they know the tenant"},
		testkit.Exception{Table: "digest_queue", Reason: "the digest workers find accounts whose trouble digest is due before they know the tenant"})
}

// ownership is an account with an old and a new engineer, two extra recipients (one from the
// notification settings, one from org's "assign ownership" list) and a plain address.
type ownership struct {
	*account
	ann, bob, carol, dave string
}

func newOwnership(t *testing.T, w *world) ownership {
	t.Helper()
	o := ownership{account: w.account("Contoso MSP", "America/Chicago", orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY)}
	o.ann = o.user("Ann", "ann@contoso.test", false)
	o.bob = o.user("Bob", "bob@contoso.test", false)
	o.carol = o.user("Carol", "carol@contoso.test", true)
	o.dave = o.user("Dave", "dave@contoso.test", false)
	o.orgRecipients("America/Chicago", orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY, []string{o.dave}, nil)
	_, err := w.api().UpdateNotificationSettings(o.as(o.carol), &notificationv1.UpdateNotificationSettingsRequest{AccountId: o.id,
		Settings:   &notificationv1.NotificationSettings{OwnershipChanged: &notificationv1.Recipients{UserIds: []string{o.carol, o.bob}, Addresses: []string{"ext@partner.test", "CAROL@contoso.test"}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"ownershipChanged"}}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOwnerChangeEmailsEachPersonOnceInTheAccountsTimeAndFormat(t *testing.T) {
	w := newWorld(t)
	o := newOwnership(t, w)
	r := o.review("Q4 alignment review")
	at := time.Now().UTC().Truncate(time.Second)
	ev := o.ownerChanged(r, o.ann, o.bob, at)
	if !w.org(ev) {
		t.Fatal("the event was not applied")
	}
	// bob: assigned; ann: reassigned; carol (settings), dave (org's list), ext (address): the
	// change. bob is also in the settings' list and carol's address is hers: each hears once.
	w.waitMail(5, 5*time.Second)
	w.settle()
	ms := w.sink.Messages()
	if len(ms) != 5 {
		t.Fatalf("%d emails, want 5: %v", len(ms), subjects(ms))
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	changed := at.In(chicago).Format("02/01/2006 15:04 MST")
	want := map[string]string{
		"bob@contoso.test":   "New review assignment: Q4 alignment review (Acme)",
		"ann@contoso.test":   "Review reassigned: Q4 alignment review (Acme)",
		"carol@contoso.test": "Review engineer changed: Q4 alignment review (Acme)",
		"dave@contoso.test":  "Review engineer changed: Q4 alignment review (Acme)",
		"ext@partner.test":   "Review engineer changed: Q4 alignment review (Acme)",
	}
	for addr, subject := range want {
		got := to(ms, addr)
		if len(got) != 1 {
			t.Errorf("%s got %d emails, want 1", addr, len(got))
			continue
		}
		m := got[0]
		if m.Subject != subject {
			t.Errorf("%s: subject %q, want %q", addr, m.Subject, subject)
		}
		for _, part := range []string{m.Text, m.HTML} {
			if !strings.Contains(part, changed) {
				t.Errorf("%s: the change time %q is not in the body:\n%s", addr, changed, part)
			}
			if !strings.Contains(part, "https://app.orgplane.test/reviews/"+r.id) {
				t.Errorf("%s: no link to the review in:\n%s", addr, part)
			}
		}
		unsub := m.Header["List-Unsubscribe"]
		if addr == "ext@partner.test" {
			if len(unsub) != 0 {
				t.Errorf("a plain address got an unsubscribe link %v", unsub)
			}
			continue
		}
		if len(unsub) != 1 || !strings.HasPrefix(unsub[0], "<https://app.orgplane.test/unsubscribe?token=") ||
			strings.Join(m.Header["List-Unsubscribe-Post"], "") != "List-Unsubscribe=One-Click" {
			t.Errorf("%s: List-Unsubscribe %v, List-Unsubscribe-Post %v", addr, unsub, m.Header["List-Unsubscribe-Post"])
		}
	}
	bobs := to(ms, "bob@contoso.test")
	if len(bobs) == 1 && (!strings.Contains(bobs[0].Text, "15/01/2027") || !strings.Contains(bobs[0].Text, "Hello Bob")) {
		t.Errorf("bob's email lacks the due date in the account's format or his name:\n%s", bobs[0].Text)
	}

	// The same event again: nothing more.
	if w.org(ev) {
		t.Fatal("a redelivered event was applied again")
	}
	w.settle()
	if n := len(w.sink.Messages()); n != 5 {
		t.Fatalf("after a redelivery: %d emails, want 5", n)
	}
	// Every delivery is on record: 5 emails sent, in-app entries for the 4 users.
	list, err := w.api().ListDeliveries(o.as(o.carol), &notificationv1.ListDeliveriesRequest{AccountId: o.id})
	if err != nil {
		t.Fatal(err)
	}
	var emails, inApp int
	for _, d := range list.GetDeliveries() {
		if d.GetEventId() != ev.GetEventId() || d.GetStatus() != notificationv1.DeliveryStatus_DELIVERY_STATUS_SENT {
			t.Errorf("delivery %+v", d)
			continue
		}
		if d.GetChannel() == notificationv1.Channel_CHANNEL_EMAIL {
			emails++
			if d.GetAttempts() != 1 || d.GetSentTime() == nil {
				t.Errorf("email delivery %+v: want one attempt and a sent time", d)
			}
		} else {
			inApp++
		}
	}
	if emails != 5 || inApp != 4 {
		t.Errorf("record: %d emails and %d in-app entries, want 5 and 4", emails, inApp)
	}
}

func TestAUserWhoTurnedAKindOffGetsNothingOfItAndOthersStillDo(t *testing.T) {
	w := newWorld(t)
	o := newOwnership(t, w)
	prefs, err := w.api().UpdateNotificationPreferences(o.as(o.bob), &notificationv1.UpdateNotificationPreferencesRequest{AccountId: o.id,
		Preferences: &notificationv1.NotificationPreferences{Preferences: []*notificationv1.Preference{
			{Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED, Email: false, InApp: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(prefs.GetPreferences()) != 6 || prefs.GetPreferences()[0].GetEmail() || !prefs.GetPreferences()[1].GetEmail() {
		t.Fatalf("preferences after the update: %v", prefs.GetPreferences())
	}
	w.org(o.ownerChanged(o.review("Q1"), o.ann, o.bob, time.Now()))
	w.waitMail(4, 5*time.Second)
	w.settle()
	ms := w.sink.Messages()
	if len(to(ms, "bob@contoso.test")) != 0 || len(ms) != 4 {
		t.Fatalf("emails %v: want none for bob and 4 for the others", subjects(ms))
	}
	skipped, err := w.api().ListDeliveries(o.as(o.carol), &notificationv1.ListDeliveriesRequest{AccountId: o.id,
		Status: notificationv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped.GetDeliveries()) != 1 || skipped.GetDeliveries()[0].GetUserId() != o.bob ||
		skipped.GetDeliveries()[0].GetError() != "turned off by the recipient" {
		t.Fatalf("skipped deliveries %v", skipped.GetDeliveries())
	}
	// In-app stays on: bob still sees it in his feed.
	feed, err := w.api().ListNotifications(o.as(o.bob), &notificationv1.ListNotificationsRequest{AccountId: o.id})
	if err != nil || len(feed.GetNotifications()) != 1 {
		t.Fatalf("bob's feed %v (%v)", feed.GetNotifications(), err)
	}
}

func TestAnSMTPOutageDelaysMailButLosesNone(t *testing.T) {
	// The outage outlasts the tries after which a refused email is given up: an unreachable relay
	// must not count against them.
	w := newWorld(t, func(c *app.Config) { c.MaxAttempts = 3 })
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	bob := a.user("Bob", "bob@contoso.test", false)
	w.sink.Stop()
	for i := range 20 {
		w.org(a.ownerChanged(a.review(fmt.Sprintf("Review %02d", i)), "", bob, time.Now()))
	}
	// Every email has been tried against the dead relay more than MaxAttempts times before it
	// comes back.
	deadline := time.Now().Add(10 * time.Second)
	for w.count(`SELECT count(*) FROM notification.deliveries WHERE channel = 1 AND attempts > 3 AND status = 1`) < 20 {
		if time.Now().After(deadline) {
			t.Fatal("the emails were not tried while the relay was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.sink.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitMail(20, 10*time.Second)
	w.settle()
	ms := w.sink.Messages()
	seen := map[string]int{}
	for _, m := range ms {
		seen[m.Subject]++
	}
	if len(ms) != 20 || len(seen) != 20 {
		t.Fatalf("%d emails with %d distinct subjects after the outage, want 20 each once: %v", len(ms), len(seen), subjects(ms))
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE channel = 1 AND status = 2 AND attempts >= 5`); n != 20 {
		t.Fatalf("%d emails recorded sent after retries, want 20", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.send_queue`); n != 0 {
		t.Fatalf("%d emails still queued", n)
	}
}

func TestTheUnsubscribeLinkTurnsOffThatKindForThatUserOnly(t *testing.T) {
	w := newWorld(t)
	o := newOwnership(t, w)
	w.org(o.ownerChanged(o.review("Q1"), o.ann, o.bob, time.Now()))
	ms := w.waitMail(5, 5*time.Second)
	token := func(m mailsink.Message) string {
		raw := strings.Trim(strings.Join(m.Header["List-Unsubscribe"], ""), "<>")
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("token")
	}
	bobs := to(ms, "bob@contoso.test")
	if len(bobs) != 1 {
		t.Fatalf("bob's emails %v", subjects(ms))
	}
	tok := token(bobs[0])
	gateway := identity.With(context.Background(), identity.Service("gateway"))

	// Tampered: refused, nothing changes.
	b := []byte(tok)
	b[len(b)/2] ^= 0x01
	if b[len(b)/2] == '-' || b[len(b)/2] == '_' {
		b[len(b)/2] = 'A'
	}
	if _, err := w.replicas[0].unsub.Unsubscribe(gateway, &notificationv1.UnsubscribeRequest{Token: string(b)}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a tampered token: %v, want InvalidArgument", err)
	}
	// Only a service (the gateway's public page) may call it.
	if _, err := w.replicas[0].unsub.Unsubscribe(o.as(o.bob), &notificationv1.UnsubscribeRequest{Token: tok}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a user calling Unsubscribe: %v, want PermissionDenied", err)
	}
	res, err := w.replicas[0].unsub.Unsubscribe(gateway, &notificationv1.UnsubscribeRequest{Token: tok})
	if err != nil || res.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED {
		t.Fatalf("unsubscribe: %v, %v", res, err)
	}
	for _, c := range []struct {
		user     string
		assigned bool
	}{{o.bob, false}, {o.carol, true}} {
		prefs, err := w.api().GetNotificationPreferences(o.as(c.user), &notificationv1.GetNotificationPreferencesRequest{AccountId: o.id})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prefs.GetPreferences() {
			wantEmail := c.assigned || p.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED
			if p.GetEmail() != wantEmail || !p.GetInApp() {
				t.Errorf("user %s, kind %v: email %v in-app %v", c.user, p.GetKind(), p.GetEmail(), p.GetInApp())
			}
		}
	}
	// The next assignment of bob's sends him nothing; ann's reassignment still reaches her.
	w.sink.Reset()
	w.org(o.ownerChanged(o.review("Q2"), o.ann, o.bob, time.Now()))
	w.waitMail(4, 5*time.Second)
	w.settle()
	if got := to(w.sink.Messages(), "bob@contoso.test"); len(got) != 0 {
		t.Fatalf("bob unsubscribed but got %v", subjects(got))
	}
}

func TestTheHourlyCapSkipsEmailsBeyondIt(t *testing.T) {
	w := newWorld(t)
	o := newOwnership(t, w)
	if _, err := w.api().UpdateNotificationSettings(o.as(o.carol), &notificationv1.UpdateNotificationSettingsRequest{AccountId: o.id,
		Settings: &notificationv1.NotificationSettings{HourlyEmailCap: 7}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"hourly_email_cap"}}}); err != nil {
		t.Fatal(err)
	}
	w.org(o.ownerChanged(o.review("Q1"), o.ann, o.bob, time.Now())) // 5 emails
	w.org(o.ownerChanged(o.review("Q2"), o.ann, o.bob, time.Now())) // 2 more, then the cap
	w.waitMail(7, 5*time.Second)
	w.settle()
	if n := len(w.sink.Messages()); n != 7 {
		t.Fatalf("%d emails, want the cap's 7", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.deliveries WHERE status = 4 AND error = 'hourly email cap reached'`); n != 3 {
		t.Fatalf("%d emails skipped for the cap, want 3", n)
	}
	if n := w.count(`SELECT count(*) FROM notification.notifications`); n != 8 {
		t.Fatalf("%d in-app entries, want 8: the cap is on email only", n)
	}
}

func TestSettingsNameTheRecipientWhoIsNoUser(t *testing.T) {
	w := newWorld(t)
	o := newOwnership(t, w)
	stranger := uuid.NewString()
	_, err := w.api().UpdateNotificationSettings(o.as(o.carol), &notificationv1.UpdateNotificationSettingsRequest{AccountId: o.id,
		Settings:   &notificationv1.NotificationSettings{ReviewCreated: &notificationv1.Recipients{UserIds: []string{o.ann, stranger}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"reviewCreated"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "reviewCreated.userIds[1]") {
		t.Fatalf("a recipient who is no user: %v", err)
	}
	got, err := w.api().GetNotificationSettings(o.as(o.carol), &notificationv1.GetNotificationSettingsRequest{AccountId: o.id})
	if err != nil {
		t.Fatal(err)
	}
	// The refused update changed nothing; the earlier one is there, without the repeated address.
	if len(got.GetReviewCreated().GetUserIds()) != 0 || len(got.GetOwnershipChanged().GetAddresses()) != 2 ||
		len(got.GetOwnershipChanged().GetUserIds()) != 2 {
		t.Fatalf("settings %v", got)
	}
	// Without the notifications permission: refused.
	engineer := identity.With(context.Background(), identity.Identity{Kind: identity.KindUser, PrincipalID: o.ann, AccountID: o.id, UserID: o.ann})
	if _, err := w.api().GetNotificationSettings(engineer, &notificationv1.GetNotificationSettingsRequest{AccountId: o.id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("settings without the permission: %v", err)
	}
}
