package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/pkg/events"
)

// Issue 16's acceptance, through the public REST API and a real SMTP server (the stack's mail
// sink): who is emailed when a review changes hands, once, in the account's zone and format;
// preferences and the unsubscribe link; an SMTP outage; the in-app feed and its live stream; and
// tenants kept apart. The suite runs on the real clock here: the service schedules an email's
// next try on it.

// notificationWorld is an account with an organization and the helpers the tests share.
type notificationWorld struct {
	*world
	a   msp
	org string
}

func startNotificationWorld(t *testing.T) *notificationWorld {
	t.Helper()
	w := startWorldOn(t, nil)
	if w.st.Mail == nil {
		t.Fatal("the stack runs no mail sink")
	}
	a := w.newMSP("Contoso MSP")
	org := w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	return &notificationWorld{world: w, a: a, org: org}
}

func (nw *notificationWorld) acct() string { return "/v1/accounts/" + nw.a.id }

// review creates a review of the world's organization with nobody assigned.
func (nw *notificationWorld) review(title string) string {
	nw.t.Helper()
	return nw.must(200, "POST", nw.acct()+"/reviews", nw.a.adminKey,
		fmt.Sprintf(`{"organizationId":%q,"title":%q}`, nw.org, title))["id"].(string)
}

// assignEngineer makes user the review's engineer, as the administrator, and returns the review.
func (nw *notificationWorld) assignEngineer(review, user, due string) map[string]any {
	nw.t.Helper()
	body := fmt.Sprintf(`{"engineerId":%q}`, user)
	if due != "" {
		body = fmt.Sprintf(`{"engineerId":%q,"engineerDueDate":%q}`, user, due)
	}
	return nw.must(200, "POST", nw.acct()+"/reviews/"+review+":reassign", nw.a.adminKey, body)
}

// mailTo is what arrived for address.
func mailTo(sink *mailsink.Sink, address string) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range sink.Messages() {
		if slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, address) }) {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits until every address has received at least want[address] messages.
func (w *world) waitMail(within time.Duration, want map[string]int) {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		changed := w.st.Mail.Changed()
		missing := map[string]int{}
		for addr, n := range want {
			if got := len(mailTo(w.st.Mail, addr)); got < n {
				missing[addr] = got
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("after %v, still waiting for mail (address: received so far) %v of %v", within, missing, want)
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settle waits until the notification service has applied every org event published so far
// (its consumers on the org stream have nothing pending) and sent every email it queued for
// account a, so a count taken then is final.
func (w *world) settle(a msp) {
	w.t.Helper()
	nc, err := nats.Connect(w.st.NATSURL, nats.UserCredentials(w.st.NATSAdminCreds))
	if err != nil {
		w.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "ORGPLANE_ORG")
	if err != nil {
		w.t.Fatal(err)
	}
	for {
		busy := []string{}
		found := 0
		names := stream.ConsumerNames(ctx)
		for name := range names.Name() {
			if !strings.Contains(name, "notification") {
				continue
			}
			found++
			c, err := stream.Consumer(ctx, name)
			if err != nil {
				w.t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				w.t.Fatal(err)
			}
			if info.NumPending > 0 || info.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s (%d pending, %d unacknowledged)", name, info.NumPending, info.NumAckPending))
			}
		}
		if found == 0 {
			w.t.Fatal("the notification service has no consumer on the org stream")
		}
		if len(busy) == 0 {
			r := w.do("GET", "/v1/accounts/"+a.id+"/notificationDeliveries?status=DELIVERY_STATUS_PENDING&pageSize=1000", a.adminKey, "")
			if r.code != http.StatusOK {
				w.t.Fatalf("pending deliveries: %d %s", r.code, r.body)
			}
			pending := r.json(w.t)["deliveries"].([]any)
			if len(pending) == 0 {
				return
			}
			busy = append(busy, fmt.Sprintf("%d emails pending", len(pending)))
		}
		if ctx.Err() != nil {
			w.t.Fatalf("the notification service did not settle: %v", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// feed is key's notifications in account a, newest first.
func (w *world) feed(a msp, key string) []map[string]any {
	w.t.Helper()
	var out []map[string]any
	for _, n := range w.must(200, "GET", "/v1/accounts/"+a.id+"/notifications?pageSize=200", key, "")["notifications"].([]any) {
		out = append(out, n.(map[string]any))
	}
	return out
}

// waitNotification waits for key's feed in account a to hold a notification about review and
// returns its id.
func (w *world) waitNotification(a msp, key, review string) string {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, n := range w.feed(a, key) {
			if n["reviewId"] == review {
				return n["id"].(string)
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no notification about review %s in the feed within 15 s", review)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) unread(a msp, key string) string {
	w.t.Helper()
	return fmt.Sprint(w.must(200, "GET", "/v1/accounts/"+a.id+"/notifications:unreadCount", key, "")["unreadCount"])
}

// farZone is a time zone whose calendar day differs from UTC's at now (by an hour's margin
// at least), so a date shown in it proves the account's zone was applied.
func farZone(t *testing.T, now time.Time) *time.Location {
	t.Helper()
	name := "Pacific/Kiritimati" // UTC+14: tomorrow from 10:00 UTC
	if now.UTC().Hour() < 10 {
		name = "Pacific/Pago_Pago" // UTC-11: yesterday until 11:00 UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// ownerChangedEvent finds the review.owner_changed event the tap saw for review.
func (w *world) ownerChangedEvent(review string) *nats.Msg {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		msgs := append([]*nats.Msg(nil), w.events...)
		w.mu.Unlock()
		for _, m := range msgs {
			if strings.HasSuffix(m.Subject, ".review.owner_changed") && strings.Contains(string(m.Data), review) {
				return m
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no review.owner_changed event for %s", review)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNotificationReassignmentEmailsEachRecipientOnceInTheAccountsZoneAndFormat(t *testing.T) {
	nw := startNotificationWorld(t)
	acct := nw.acct()
	loc := farZone(t, time.Now())
	nw.must(200, "PATCH", acct+"/settings?updateMask=timeZone,dateFormat", nw.a.adminKey,
		fmt.Sprintf(`{"timeZone":%q,"dateFormat":"DATE_FORMAT_DD_MM_YYYY"}`, loc.String()))
	engineer, engineerKey := nw.keyFor(nw.a, "eng@contoso.example", "Engineer")
	viaOrg, _ := nw.keyFor(nw.a, "vcio@contoso.example", "vCIO")
	viaSettings, _ := nw.keyFor(nw.a, "lead@contoso.example", "Engineer")
	const outsider = "partner@fabrikam.example"
	// The extra recipients of an ownership change: org's "assign ownership" users and the
	// notification settings' users and plain addresses.
	nw.must(200, "PATCH", acct+"/settings?updateMask=assignOwnershipRecipientIds", nw.a.adminKey,
		fmt.Sprintf(`{"assignOwnershipRecipientIds":[%q]}`, viaOrg))
	nw.must(200, "PATCH", acct+"/notificationSettings?updateMask=ownershipChanged", nw.a.adminKey,
		fmt.Sprintf(`{"ownershipChanged":{"userIds":[%q],"addresses":[%q]}}`, viaSettings, outsider))
	nw.settle(nw.a) // the service knows the zone, the users and the recipients

	review := nw.review("Quarterly alignment")
	changed := nw.assignEngineer(review, engineer, "2027-03-09")
	want := map[string]int{"eng@contoso.example": 1, "vcio@contoso.example": 1, "lead@contoso.example": 1, outsider: 1}
	nw.waitMail(30*time.Second, want)
	nw.settle(nw.a)
	for addr := range want {
		if got := mailTo(nw.st.Mail, addr); len(got) != 1 {
			t.Errorf("%s received %d emails, want exactly 1: %v", addr, len(got), subjects(got))
		}
	}
	if n := len(nw.st.Mail.Messages()); n != len(want) {
		t.Errorf("%d emails in all, want %d: %v", n, len(want), subjects(nw.st.Mail.Messages()))
	}

	// The new engineer's email: the assignment, its due date in the account's format, and the
	// time of the change in the account's zone (whose calendar day is not UTC's today).
	at, err := time.Parse(time.RFC3339Nano, changed["updateTime"].(string))
	if err != nil {
		t.Fatal(err)
	}
	mine := mailTo(nw.st.Mail, "eng@contoso.example")[0]
	if !strings.HasPrefix(mine.Subject, "New review assignment") || !strings.Contains(mine.Subject, "Quarterly alignment") {
		t.Errorf("the engineer's subject: %q", mine.Subject)
	}
	local, utc := at.In(loc).Format("02/01/2006"), at.UTC().Format("02/01/2006")
	changedLine := regexp.MustCompile(`(?m)^Changed:.*$`).FindString(mine.Text)
	if !strings.Contains(mine.Text, "09/03/2027") || !strings.Contains(changedLine, local) || strings.Contains(changedLine, utc) {
		t.Errorf("want the due date 09/03/2027 and the change on %s (%s, not UTC's %s):\n%s", local, loc, utc, mine.Text)
	}
	for _, addr := range []string{"vcio@contoso.example", "lead@contoso.example", outsider} {
		if m := mailTo(nw.st.Mail, addr)[0]; !strings.Contains(m.Subject, "engineer changed") || !strings.Contains(m.Text, local) {
			t.Errorf("%s: %q\n%s", addr, m.Subject, m.Text)
		}
	}

	// The same event delivered again, the way a redelivery reaches a consumer: the same payload
	// and event id (Orgplane-Event-Id, as a replay carries it) under a fresh Nats-Msg-Id, since
	// JetStream would drop the same Nats-Msg-Id before any consumer saw it.
	ev := nw.ownerChangedEvent(review)
	_, js := adminJetStream(t, nw.st)
	again := nats.NewMsg(ev.Subject)
	again.Data = ev.Data
	for k, v := range ev.Header {
		again.Header[k] = v
	}
	again.Header.Set(events.HeaderEventID, ev.Header.Get(jetstream.MsgIDHeader))
	again.Header.Set(jetstream.MsgIDHeader, uuid.NewString())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, again)
	if err != nil || ack.Duplicate {
		t.Fatalf("republishing the event: %v (duplicate: %v)", err, ack != nil && ack.Duplicate)
	}
	nw.settle(nw.a)
	// Taken as a duplicate, not set aside as a forgery (which would also send nothing).
	if dead, err := events.ListDeadLetters(ctx, js, "notification-org"); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters of notification-org: %v %+v", err, dead)
	}
	if n := len(nw.st.Mail.Messages()); n != len(want) {
		t.Errorf("after the event came again, %d emails in all, want still %d: %v", n, len(want), subjects(nw.st.Mail.Messages()))
	}
	assigned := 0
	for _, n := range nw.feed(nw.a, engineerKey) {
		if n["reviewId"] == review {
			assigned++
		}
	}
	if assigned != 1 {
		t.Errorf("the engineer's feed holds %d notifications about the review, want 1", assigned)
	}
}

func subjects(ms []mailsink.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%v: %s", m.To, m.Subject)
	}
	return out
}

func TestNotificationPreferenceOffSilencesOnlyThatUser(t *testing.T) {
	nw := startNotificationWorld(t)
	acct := nw.acct()
	quiet, quietKey := nw.keyFor(nw.a, "quiet@contoso.example", "Engineer")
	loud, _ := nw.keyFor(nw.a, "loud@contoso.example", "Engineer")
	lead, _ := nw.keyFor(nw.a, "lead@contoso.example", "Engineer")
	nw.must(200, "PATCH", acct+"/notificationSettings?updateMask=ownershipChanged", nw.a.adminKey,
		fmt.Sprintf(`{"ownershipChanged":{"userIds":[%q]}}`, lead))
	// "Review assigned to me", off on both channels, as the user themself.
	prefs := nw.must(200, "PUT", acct+"/notificationPreferences", quietKey,
		`{"preferences":[{"kind":"NOTIFICATION_KIND_REVIEW_ASSIGNED","email":false,"inApp":false}]}`)
	if !prefOff(prefs, "NOTIFICATION_KIND_REVIEW_ASSIGNED") || prefOff(prefs, "NOTIFICATION_KIND_OWNERSHIP_CHANGED") {
		t.Fatalf("preferences after turning one kind off: %v", prefs)
	}
	nw.settle(nw.a)

	silenced := nw.review("Annual plan")
	other := nw.review("Security review")
	nw.assignEngineer(silenced, quiet, "")
	nw.assignEngineer(other, loud, "")
	// The recipient of ownership changes hears of both; the engineer who kept the kind on, of theirs.
	nw.waitMail(30*time.Second, map[string]int{"lead@contoso.example": 2, "loud@contoso.example": 1})
	nw.settle(nw.a)
	if got := mailTo(nw.st.Mail, "quiet@contoso.example"); len(got) != 0 {
		t.Errorf("the user who turned the kind off received %v", subjects(got))
	}
	for _, n := range nw.feed(nw.a, quietKey) {
		if n["kind"] == "NOTIFICATION_KIND_REVIEW_ASSIGNED" {
			t.Errorf("the user who turned the kind off has it in the feed: %v", n)
		}
	}
	if got := mailTo(nw.st.Mail, "loud@contoso.example"); len(got) != 1 || !strings.HasPrefix(got[0].Subject, "New review assignment") {
		t.Errorf("the other engineer received %v", subjects(got))
	}
	// The record says why the quiet user got nothing.
	deliveries := nw.must(200, "GET", acct+"/notificationDeliveries?status=DELIVERY_STATUS_SKIPPED&pageSize=1000", nw.a.adminKey, "")["deliveries"].([]any)
	skipped := false
	for _, d := range deliveries {
		d := d.(map[string]any)
		skipped = skipped || d["userId"] == quiet && d["kind"] == "NOTIFICATION_KIND_REVIEW_ASSIGNED" && d["error"] != ""
	}
	if !skipped {
		t.Errorf("no skipped delivery to the quiet user in the record: %v", deliveries)
	}
}

// prefOff reports whether kind's email is off in a preferences answer.
func prefOff(prefs map[string]any, kind string) bool {
	for _, p := range prefs["preferences"].([]any) {
		if p := p.(map[string]any); p["kind"] == kind {
			return p["email"] == false
		}
	}
	return false
}

func TestNotificationEmailsWaitOutAnSMTPOutage(t *testing.T) {
	nw := startNotificationWorld(t)
	engineer, _ := nw.keyFor(nw.a, "eng@contoso.example", "Engineer")
	reviews := make([]string, 20)
	for i := range reviews {
		reviews[i] = nw.review(fmt.Sprintf("Outage review %02d", i+1))
	}
	nw.settle(nw.a)

	nw.st.Mail.Stop()
	for _, r := range reviews {
		nw.assignEngineer(r, engineer, "")
	}
	// Every email was tried against the stopped server and is waiting for it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		tried := 0
		for _, d := range nw.must(200, "GET", nw.acct()+"/notificationDeliveries?status=DELIVERY_STATUS_PENDING&pageSize=1000", nw.a.adminKey, "")["deliveries"].([]any) {
			if d := d.(map[string]any); d["channel"] == "CHANNEL_EMAIL" && num(d["attempts"]) >= 1 && d["error"] != "" {
				tried++
			}
		}
		if tried == len(reviews) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d emails were tried during the outage", tried, len(reviews))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(nw.st.Mail.Messages()); n != 0 {
		t.Fatalf("%d emails arrived while the server was stopped", n)
	}
	if err := nw.st.Mail.Restart(); err != nil {
		t.Fatal(err)
	}
	nw.waitMail(2*time.Minute, map[string]int{"eng@contoso.example": len(reviews)})
	nw.settle(nw.a)
	got := mailTo(nw.st.Mail, "eng@contoso.example")
	seen := map[string]int{}
	for _, m := range got {
		seen[m.Subject]++
	}
	for i := range reviews {
		title := fmt.Sprintf("Outage review %02d", i+1)
		n := 0
		for subject, c := range seen {
			if strings.Contains(subject, title) {
				n += c
			}
		}
		if n != 1 {
			t.Errorf("%q arrived %d times, want once", title, n)
		}
	}
	if len(got) != len(reviews) {
		t.Errorf("%d emails arrived, want %d: %v", len(got), len(reviews), subjects(got))
	}
}

// unsubscribeLink is the link an email's List-Unsubscribe header gives (RFC 2369: <url>).
func unsubscribeLink(t *testing.T, m mailsink.Message) string {
	t.Helper()
	h := m.Header["List-Unsubscribe"]
	if len(h) == 0 {
		t.Fatalf("no List-Unsubscribe in %q", m.Subject)
	}
	link := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h[0]), "<"), ">")
	if !strings.Contains(m.Text, link) {
		t.Errorf("the text does not carry the link %s:\n%s", link, m.Text)
	}
	if post := m.Header["List-Unsubscribe-Post"]; len(post) == 0 || post[0] != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %v, want RFC 8058's one-click", post)
	}
	return link
}

func TestNotificationUnsubscribeLinkTurnsOffOneKindForOneUser(t *testing.T) {
	nw := startNotificationWorld(t)
	acct := nw.acct()
	engineer, engineerKey := nw.keyFor(nw.a, "eng@contoso.example", "Engineer")
	colleague, colleagueKey := nw.keyFor(nw.a, "col@contoso.example", "Engineer")
	nw.settle(nw.a)
	nw.assignEngineer(nw.review("Quarterly alignment"), engineer, "")
	nw.assignEngineer(nw.review("Annual plan"), colleague, "")
	nw.waitMail(30*time.Second, map[string]int{"eng@contoso.example": 1, "col@contoso.example": 1})
	link := unsubscribeLink(t, mailTo(nw.st.Mail, "eng@contoso.example")[0])
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q: %v", link, err)
	}
	// The link leads to the gateway's page (the stack's web base URL is the gateway).
	if !strings.HasPrefix(link, nw.st.GatewayURL+"/unsubscribe?") {
		t.Fatalf("link %s does not lead to the gateway's page at %s", link, nw.st.GatewayURL)
	}

	// Opening it (as a person, a mail scanner or a link preview would) changes nothing.
	for range 2 {
		p := fetch(t, "GET", link, "", "")
		if p.code != http.StatusOK || !strings.Contains(p.body, `<form method="post" action="/unsubscribe">`) {
			t.Fatalf("GET %s: %d %s", link, p.code, p.body)
		}
	}
	if prefs := nw.must(200, "GET", acct+"/notificationPreferences", engineerKey, ""); prefOff(prefs, "NOTIFICATION_KIND_REVIEW_ASSIGNED") {
		t.Fatal("opening the link turned the kind off")
	}

	// A tampered token is refused in plain words and changes nothing.
	token := u.Query().Get("token")
	flip := "A"
	if token[len(token)/2] == 'A' {
		flip = "B"
	}
	tampered := token[:len(token)/2] + flip + token[len(token)/2+1:]
	for _, bad := range []string{tampered, token[:len(token)-3], token + "AAAA"} {
		p := fetch(t, "POST", nw.st.GatewayURL+"/unsubscribe", "application/x-www-form-urlencoded", url.Values{"token": {bad}}.Encode())
		if p.code != http.StatusBadRequest || !strings.Contains(p.body, "This link is not valid") {
			t.Errorf("tampered token: %d %s", p.code, p.body)
		}
	}
	if prefs := nw.must(200, "GET", acct+"/notificationPreferences", engineerKey, ""); prefOff(prefs, "NOTIFICATION_KIND_REVIEW_ASSIGNED") {
		t.Fatal("a tampered token turned the kind off")
	}

	// Sending the page's form: that kind, for that user, is off; the rest stays on.
	p := fetch(t, "POST", nw.st.GatewayURL+"/unsubscribe", "application/x-www-form-urlencoded", url.Values{"token": {token}}.Encode())
	if p.code != http.StatusOK || !strings.Contains(p.body, "reviews assigned to you") {
		t.Fatalf("POST the form: %d %s", p.code, p.body)
	}
	prefs := nw.must(200, "GET", acct+"/notificationPreferences", engineerKey, "")
	if !prefOff(prefs, "NOTIFICATION_KIND_REVIEW_ASSIGNED") {
		t.Fatalf("after unsubscribing, the engineer's preferences: %v", prefs)
	}
	for _, kind := range []string{"NOTIFICATION_KIND_REVIEW_REASSIGNED", "NOTIFICATION_KIND_OWNERSHIP_CHANGED", "NOTIFICATION_KIND_REVIEW_CREATED"} {
		if prefOff(prefs, kind) {
			t.Errorf("unsubscribing from one kind turned %s off too", kind)
		}
	}
	if prefs := nw.must(200, "GET", acct+"/notificationPreferences", colleagueKey, ""); prefOff(prefs, "NOTIFICATION_KIND_REVIEW_ASSIGNED") {
		t.Errorf("the colleague's kind was turned off too: %v", prefs)
	}
	// A mail client's one-click POST of the same link again: still fine, still the same.
	if p := fetch(t, "POST", link, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); p.code != http.StatusOK {
		t.Errorf("one-click POST: %d %s", p.code, p.body)
	}

	// From now on the engineer gets no such email; the colleague still does.
	nw.assignEngineer(nw.review("Security review"), engineer, "")
	nw.assignEngineer(nw.review("Budget review"), colleague, "")
	nw.waitMail(30*time.Second, map[string]int{"col@contoso.example": 2})
	nw.settle(nw.a)
	if got := mailTo(nw.st.Mail, "eng@contoso.example"); len(got) != 1 {
		t.Errorf("after unsubscribing, the engineer received %v", subjects(got))
	}
}

type fetched struct {
	code int
	body string
}

// fetch is a plain HTTP request without credentials, as a browser or mail client sends.
func fetch(t *testing.T, method, u, contentType, body string) fetched {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{resp.StatusCode, string(b)}
}

func TestNotificationFeedShowsWithinASecondAndStreamsLive(t *testing.T) {
	nw := startNotificationWorld(t)
	acct := nw.acct()
	engineer, key := nw.keyFor(nw.a, "eng@contoso.example", "Engineer")
	nw.settle(nw.a)
	if got := nw.unread(nw.a, key); got != "0" {
		t.Fatalf("unread before anything happened: %s", got)
	}
	live := nw.connectStream(acct+"/notifications:stream", key)

	first := nw.review("Quarterly alignment")
	nw.assignEngineer(first, engineer, "")
	changed := time.Now()
	id := nw.waitNotification(nw.a, key, first)
	if d := time.Since(changed); d > time.Second {
		t.Errorf("the feed showed the notification %v after the change, want within 1 s", d)
	}
	// The connected client got it too, once.
	l, ok := live.next(5 * time.Second)
	if !ok || l.Result["id"] != id || l.Result["reviewId"] != first || l.Result["kind"] != "NOTIFICATION_KIND_REVIEW_ASSIGNED" {
		t.Fatalf("the stream delivered %v (%v), want notification %s", l, ok, id)
	}

	second := nw.review("Annual plan")
	nw.assignEngineer(second, engineer, "")
	nw.waitNotification(nw.a, key, second)
	if l, ok := live.next(5 * time.Second); !ok || l.Result["reviewId"] != second {
		t.Fatalf("the stream's second message: %v (%v)", l, ok)
	}
	if l, ok := live.next(500 * time.Millisecond); ok {
		t.Errorf("the stream sent more than the two notifications: %v", l)
	}
	feed := nw.feed(nw.a, key)
	if len(feed) != 2 || feed[0]["reviewId"] != second || feed[1]["reviewId"] != first {
		t.Fatalf("feed %v, want the two notifications newest first", feed)
	}
	if got := nw.unread(nw.a, key); got != "2" {
		t.Errorf("unread = %s, want 2", got)
	}
	read := nw.must(200, "POST", acct+"/notifications/"+id+":markRead", key, `{}`)
	if read["readTime"] == nil || read["readTime"] == "" {
		t.Errorf("marked read: %v", read)
	}
	if got := nw.unread(nw.a, key); got != "1" {
		t.Errorf("unread after marking one read = %s, want 1", got)
	}
	if unread := nw.must(200, "GET", acct+"/notifications?unreadOnly=true", key, "")["notifications"].([]any); len(unread) != 1 ||
		unread[0].(map[string]any)["reviewId"] != second {
		t.Errorf("unread only: %v", unread)
	}
	if got := nw.must(200, "POST", acct+"/notifications:markAllRead", key, `{}`); fmt.Sprint(got["unreadCount"]) != "0" {
		t.Errorf("mark all read: %v", got)
	}
	if got := nw.unread(nw.a, key); got != "0" {
		t.Errorf("unread after marking all read = %s", got)
	}
}

func TestNotificationTenantsNeverSeeCountOrReceiveEachOthers(t *testing.T) {
	nw := startNotificationWorld(t)
	b := nw.newMSP("Fabrikam IT")
	bOrg := nw.createOrg(b, b.adminKey, `{"name":"Fabrikam client"}`)["id"].(string)
	_, aKey := nw.keyFor(nw.a, "eng@contoso.example", "Engineer")
	bUser, bKey := nw.keyFor(b, "eng@fabrikam.example", "Engineer")
	// Both accounts alert the other's address on ownership changes, if anything leaked.
	nw.must(200, "PATCH", nw.acct()+"/notificationSettings?updateMask=ownershipChanged", nw.a.adminKey,
		`{"ownershipChanged":{"addresses":["watch@contoso.example"]}}`)
	nw.must(200, "PATCH", "/v1/accounts/"+b.id+"/notificationSettings?updateMask=ownershipChanged", b.adminKey,
		`{"ownershipChanged":{"addresses":["watch@fabrikam.example"]}}`)
	nw.settle(nw.a)
	nw.settle(b)
	aLive := nw.connectStream(nw.acct()+"/notifications:stream", aKey)

	bReview := nw.must(200, "POST", "/v1/accounts/"+b.id+"/reviews", b.adminKey,
		fmt.Sprintf(`{"organizationId":%q,"title":"Fabrikam secret review"}`, bOrg))["id"].(string)
	nw.must(200, "POST", "/v1/accounts/"+b.id+"/reviews/"+bReview+":reassign", b.adminKey, fmt.Sprintf(`{"engineerId":%q}`, bUser))
	bNotification := nw.waitNotification(b, bKey, bReview)
	nw.waitMail(30*time.Second, map[string]int{"eng@fabrikam.example": 1, "watch@fabrikam.example": 1})
	nw.settle(b)

	// A's user: nothing in the feed, nothing counted, nothing streamed, nothing mailed.
	if feed := nw.feed(nw.a, aKey); len(feed) != 0 {
		t.Errorf("A's user sees %v", feed)
	}
	if got := nw.unread(nw.a, aKey); got != "0" {
		t.Errorf("A's user counts %s unread", got)
	}
	if l, ok := aLive.next(time.Second); ok {
		t.Errorf("A's stream delivered %v", l)
	}
	for _, addr := range []string{"eng@contoso.example", "watch@contoso.example"} {
		if got := mailTo(nw.st.Mail, addr); len(got) != 0 {
			t.Errorf("%s received %v", addr, subjects(got))
		}
	}
	for _, m := range nw.st.Mail.Messages() {
		for _, to := range m.To {
			if !strings.HasSuffix(to, "@fabrikam.example") {
				t.Errorf("B's change mailed %s: %q", to, m.Subject)
			}
		}
	}
	// A's administrator's record of deliveries holds none of B's.
	r := nw.must(200, "GET", nw.acct()+"/notificationDeliveries?pageSize=1000", nw.a.adminKey, "")
	if b, _ := json.Marshal(r); strings.Contains(string(b), bUser) || strings.Contains(string(b), "Fabrikam") {
		t.Errorf("A's delivery record shows B's: %s", b)
	}
	// B's notification named from A's side is as if it did not exist; B's paths refuse A.
	if r := nw.do("POST", nw.acct()+"/notifications/"+bNotification+":markRead", aKey, `{}`); r.code != http.StatusNotFound {
		t.Errorf("A marking B's notification read: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/notifications", ""}, {"GET", "/notifications:unreadCount", ""},
		{"POST", "/notifications/" + bNotification + ":markRead", `{}`}, {"POST", "/notifications:markAllRead", `{}`},
		{"GET", "/notificationDeliveries", ""}, {"GET", "/notificationSettings", ""},
	} {
		if r := nw.do(c.method, "/v1/accounts/"+b.id+c.path, nw.a.adminKey, c.body); r.code != http.StatusNotFound {
			t.Errorf("A's administrator on B's %s %s: %d %s", c.method, c.path, r.code, r.body)
		}
	}
	if r := nw.openStream("GET", "/v1/accounts/"+b.id+"/notifications:stream", aKey); r.code != http.StatusNotFound {
		t.Errorf("A's user on B's stream: %d %s", r.code, r.body)
	}
	// And B's own user still has it unread: nothing A did touched it.
	if got := nw.unread(b, bKey); got != "1" {
		t.Errorf("B's user counts %s unread, want 1", got)
	}
}
