package notificationsvc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/notification/internal/app"
)

// reminders are the emails of kind "reminder" that arrived, by recipient.
func (w *world) reminders() map[string]int {
	out := map[string]int{}
	for _, m := range w.sink.Messages() {
		if strings.HasPrefix(m.Subject, "Reminder: ") {
			out[strings.Join(m.To, ",")]++
		}
	}
	return out
}

func TestAQuietReviewsAssigneesAreRemindedOncePerQuietPeriodWhateverTheReplicas(t *testing.T) {
	w := newWorld(t)
	w.addReplica() // two processes' reminder workers compete for the same reviews
	a := w.account("Contoso MSP", "Europe/Berlin", orgv1.DateFormat_DATE_FORMAT_DD_MM_YYYY)
	ann, bob, carol := a.user("Ann", "ann@contoso.test", false), a.user("Bob", "bob@contoso.test", false), a.user("Carol", "carol@contoso.test", true)
	quiet := func(days int32) {
		t.Helper()
		if _, err := w.api().UpdateNotificationSettings(a.as(carol), &notificationv1.UpdateNotificationSettingsRequest{AccountId: a.id,
			Settings: &notificationv1.NotificationSettings{ReminderQuietDays: days}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"reminderQuietDays"}}}); err != nil {
			t.Fatal(err)
		}
	}
	quiet(30)
	created := time.Now().Add(-10 * 24 * time.Hour).UTC().Truncate(time.Second)
	r := a.review("Q3 review")
	w.org(&orgv1.ReviewCreated{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: timestamppb.New(created), OrganizationName: "Acme",
		Review: &orgv1.Review{Id: r.id, OrganizationId: r.org, Title: r.title, EngineerId: ann, EngineerDueDate: "2027-02-01", VcioId: bob}})
	ms := w.waitMail(2, 5*time.Second) // review created: to its engineer and vCIO
	for _, m := range ms {
		if m.Subject != "New review: Q3 review (Acme)" || !strings.Contains(m.Text, "01/02/2027") {
			t.Errorf("review created email %q:\n%s", m.Subject, m.Text)
		}
	}
	w.settle()
	if got := w.reminders(); len(got) != 0 {
		t.Fatalf("reminded before the 30 quiet days: %v", got)
	}

	// A shorter quiet period makes the review overdue at once: one reminder each, however many
	// workers saw it.
	quiet(7)
	w.waitMail(4, 5*time.Second)
	w.settle()
	if got := w.reminders(); len(got) != 2 || got["ann@contoso.test"] != 1 || got["bob@contoso.test"] != 1 {
		t.Fatalf("reminders %v, want one each for ann and bob", got)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, m := range to(w.sink.Messages(), "ann@contoso.test") {
		if strings.HasPrefix(m.Subject, "Reminder: ") && !strings.Contains(m.Text, created.In(berlin).Format("02/01/2006 15:04 MST")) {
			t.Errorf("the reminder does not say when the review was last changed:\n%s", m.Text)
		}
	}

	// An edit starts a new quiet period: one edited 8 days ago is due again (carol took over as
	// engineer), one edited now is not.
	w.org(a.ownerChanged(r, ann, carol, time.Now().Add(-8*24*time.Hour)))
	w.waitMail(4+2+2, 5*time.Second) // carol assigned, ann reassigned; reminders for carol and bob
	w.org(a.ownerChanged(r, carol, ann, time.Now()))
	w.waitMail(10, 5*time.Second) // ann assigned, carol reassigned
	w.settle()
	if got := w.reminders(); len(got) != 3 || got["ann@contoso.test"] != 1 || got["bob@contoso.test"] != 2 || got["carol@contoso.test"] != 1 {
		t.Fatalf("reminders %v after the edits", got)
	}
	if n := len(w.sink.Messages()); n != 10 {
		t.Fatalf("%d emails, want 10: %v", n, subjects(w.sink.Messages()))
	}
}

func TestIntegrationTroubleIsBatchedIntoOneDigest(t *testing.T) {
	// The delay outlasts delivering the 32 events below on a loaded machine, so they make one digest.
	w := newWorld(t, func(c *app.Config) { c.DigestDelay, c.DigestInterval = 2*time.Second, 6*time.Second })
	a := w.account("Contoso MSP", "UTC", orgv1.DateFormat_DATE_FORMAT_YYYY_MM_DD)
	carol := a.user("Carol", "carol@contoso.test", true) // an administrator
	a.user("Ann", "ann@contoso.test", false)             // not one
	if _, err := w.api().UpdateNotificationSettings(a.as(carol), &notificationv1.UpdateNotificationSettingsRequest{AccountId: a.id,
		Settings: &notificationv1.NotificationSettings{IntegrationTrouble: &notificationv1.Recipients{Addresses: []string{"ops@contoso.test"}}}}); err != nil {
		t.Fatal(err)
	}
	integ := uuid.NewString()
	deliver := func(ev proto.Message) { t.Helper(); w.deliver("notification-integrations", ev) }
	now := timestamppb.Now()
	for i := range 25 {
		deliver(&integrationsyncv1.ExternalOrganizationOrphaned{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: now,
			ExternalOrganization: &integrationsyncv1.ExternalOrganization{IntegrationId: integ, IntegrationKind: "connectwise",
				Name: fmt.Sprintf("Company %02d", i)}})
	}
	for range 4 {
		deliver(&integrationsyncv1.SyncFailed{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: now, IntegrationId: integ,
			Reason: "ConnectWise refused the company: name taken"})
	}
	deliver(&integrationsyncv1.IntegrationStateChanged{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: now, IntegrationId: integ,
		Kind: "connectwise", PreviousState: integrationsyncv1.IntegrationState_INTEGRATION_STATE_CONNECTED,
		State: integrationsyncv1.IntegrationState_INTEGRATION_STATE_CREDENTIALS_REJECTED, Message: "401 Unauthorized"})
	// Not trouble: a refresh that succeeded, a connection that came back.
	deliver(&integrationsyncv1.RefreshFinished{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: now,
		Operation: &integrationsyncv1.Operation{IntegrationId: integ, State: integrationsyncv1.OperationState_OPERATION_STATE_SUCCEEDED}})
	deliver(&integrationsyncv1.IntegrationStateChanged{EventId: uuid.NewString(), AccountId: a.id, OccurredAt: now, IntegrationId: integ,
		PreviousState: integrationsyncv1.IntegrationState_INTEGRATION_STATE_CREDENTIALS_REJECTED,
		State:         integrationsyncv1.IntegrationState_INTEGRATION_STATE_CONNECTED})

	w.waitMail(2, 15*time.Second)
	w.settle()
	ms := w.sink.Messages()
	if len(ms) != 2 || len(to(ms, "carol@contoso.test")) != 1 || len(to(ms, "ops@contoso.test")) != 1 {
		t.Fatalf("digests %v: want one to the administrator and one to the address", subjects(ms))
	}
	m := ms[0]
	if m.Subject != "Integration trouble: 30 problems (Contoso MSP)" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{"1 integration refused its credentials", "connectwise: 401 Unauthorized",
		"25 organizations are gone from their tool", "connectwise: Company 00", "and 20 more", "4 sync errors",
		"ConnectWise refused the company: name taken", "https://app.orgplane.test/integrations"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the digest lacks %q:\n%s", want, m.Text)
		}
	}

	// A problem right after a digest waits for the interval: one bad night, one email an hour.
	w.deliver("notification-integrations", &integrationsyncv1.SyncFailed{EventId: uuid.NewString(), AccountId: a.id,
		OccurredAt: timestamppb.Now(), IntegrationId: integ, Reason: "timeout"})
	time.Sleep(time.Second)
	if n := len(w.sink.Messages()); n != 2 {
		t.Fatalf("a second digest came before the interval: %v", subjects(w.sink.Messages()))
	}
	w.waitMail(4, 20*time.Second)
	if got := to(w.sink.Messages(), "ops@contoso.test"); len(got) != 2 || got[1].Subject != "Integration trouble: 1 problem (Contoso MSP)" {
		t.Fatalf("second digest %v", subjects(got))
	}
}
