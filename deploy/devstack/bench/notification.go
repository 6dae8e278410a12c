package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
)

// Notifications (issue 16): how long after a review changes hands through the API its new
// assignee's email is accepted by an SMTP server, at a steady rate, beside the time go-mail takes
// to hand the same email to the same server itself: what the notification worker adds to SMTP.

const (
	// notificationRate and notificationDuration are the steady reassignment rate.
	notificationRate     = 10.0
	notificationDuration = 15 * time.Second
	// notificationTail bounds the wait for the last email: the target is 5 s, this only ends a
	// broken run.
	notificationTail = time.Minute
	// notificationTarget is the p99 the bench holds the worker to (see docs/benchmarks.md).
	notificationTarget = 5 * time.Second
	// notificationCap is the account's hourly email cap during the scenario; the default (500)
	// would skip emails of a run longer than the default one.
	notificationCap = 100000
	// benchMailDomain is the domain of every address the scenario mails.
	benchMailDomain = "bench.example.com"
)

// assignment is one reassignment the scenario makes: a review, nobody's yet, and the user who
// gets it.
type assignment struct {
	review, title string
	user, email   string
}

func (e *env) notificationScenario(ctx context.Context) ([]Row, error) {
	sink := e.st.Mail
	if sink == nil {
		return nil, errors.New("the stack runs no mail sink, and the scenario reads what arrived there")
	}
	rate, d := notificationRate, notificationDuration
	if e.cfg.smoke {
		rate, d = notificationRate/2, e.cfg.duration
	}
	n := int(rate * d.Seconds())

	a, err := e.newAccount(ctx, "Bench notifications")
	if err != nil {
		return nil, err
	}
	defer a.conn.Close()
	if err := e.rest(ctx, "PATCH", "/v1/accounts/"+a.id+"/notificationSettings?updateMask=hourlyEmailCap", a.key,
		fmt.Sprintf(`{"hourlyEmailCap":%d}`, notificationCap), nil); err != nil {
		return nil, fmt.Errorf("raise the hourly email cap: %w", err)
	}
	role, err := e.roleID(ctx, a, "Engineer")
	if err != nil {
		return nil, err
	}
	var org struct {
		ID string `json:"id"`
	}
	if err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/organizations", a.key, `{"name":"Bench notifications client"}`, &org); err != nil {
		return nil, err
	}
	plan := make([][]assignment, e.cfg.rounds)
	for round := range plan {
		if plan[round], err = e.prepareAssignments(ctx, a, org.ID, role, round, n); err != nil {
			return nil, err
		}
	}
	// The service mails only users it has a copy of, and the copies come from org's events, as
	// the earlier scenarios' backlog does.
	if err := e.waitForOrgConsumers(ctx); err != nil {
		return nil, err
	}

	var runErr error
	var template mailsink.Message
	sys, base := e.alternate(func(round int) Result {
		r, first, err := e.reassignments(ctx, a, sink, plan[round], rate, d)
		if template.Subject == "" {
			template = first
		}
		runErr = errorsJoin(runErr, err)
		return r
	}, func(round int) Result {
		if template.Subject == "" {
			runErr = errorsJoin(runErr, errors.New("no email of Orgplane's to copy for the direct sends"))
			return Result{Errors: 1}
		}
		r, err := directSends(ctx, sink, template, round, rate, d)
		runErr = errorsJoin(runErr, err)
		return r
	})
	row := latencyRow(fmt.Sprintf("notification: REST reassignment to the new engineer's email accepted by SMTP at %.0f reassignments/s", rate),
		"reassign's 200 to the SMTP server's receipt (event, fan-out, queue, sender, go-mail), each assignee emailed once",
		"go-mail sends the same email straight to the same server (dial to receipt, one connection each)", sys, base, notificationTarget)
	return []Row{row}, runErr
}

// roleID is the id of the account's built-in role called name.
func (e *env) roleID(ctx context.Context, a account, name string) (string, error) {
	var roles struct {
		Roles []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"roles"`
	}
	if err := e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/roles", a.key, "", &roles); err != nil {
		return "", err
	}
	for _, r := range roles.Roles {
		if r.Name == name {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no role %q in the account", name)
}

// prepareAssignments creates, through REST, n users with email (every kind on, as by default)
// and n reviews with nobody assigned, so that each reassignment has exactly one recipient: the
// new engineer (no previous assignee to tell, no "assign ownership" recipients).
func (e *env) prepareAssignments(ctx context.Context, a account, orgID, roleID string, round, n int) ([]assignment, error) {
	out := make([]assignment, n)
	var mu sync.Mutex
	var firstErr error
	r := run(ctx, 8, 0, n, func(ctx context.Context, _, i int) error {
		x := assignment{email: fmt.Sprintf("notify-%d-%04d@%s", round, i, benchMailDomain),
			title: fmt.Sprintf("Bench review %d-%04d", round, i)}
		var created struct {
			ID string `json:"id"`
		}
		err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/users", a.key, fmt.Sprintf(
			`{"firstName":"Bench","lastName":"Engineer %d-%04d","email":%q,"roleId":%q,"allOrganizations":true}`, round, i, x.email, roleID), &created)
		if err == nil {
			x.user = created.ID
			err = e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/reviews", a.key,
				fmt.Sprintf(`{"organizationId":%q,"title":%q}`, orgID, x.title), &created)
			x.review = created.ID
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			return err
		}
		out[i] = x
		return nil
	})
	if r.Errors > 0 {
		return nil, fmt.Errorf("%d of %d users and reviews not created, the first: %w", r.Errors, n, firstErr)
	}
	return out, nil
}

// reassignments makes each review's engineer its user through REST, at rate for d, and times each
// from the 200 to the sink's receipt of that user's email. It then waits until the account has
// no email left to send, and a second more, and fails unless each assignee received exactly one
// email, the assignment's, and nobody else received anything meanwhile. first is one of the
// emails, for the baseline to copy.
func (e *env) reassignments(ctx context.Context, a account, sink *mailsink.Sink, plan []assignment, rate float64, d time.Duration) (Result, mailsink.Message, error) {
	before := len(sink.Messages())
	var mu sync.Mutex
	done := map[string]time.Time{}
	titles := map[string]string{}
	errs := 0
	var firstErr error
	// As in psasync: one counter, so no index is used twice.
	var next atomic.Int64
	start := time.Now()
	paced(rate, d, func(int) {
		i := int(next.Add(1) - 1)
		if i >= len(plan) {
			return
		}
		x := plan[i]
		err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/reviews/"+x.review+":reassign", a.key, fmt.Sprintf(`{"engineerId":%q}`, x.user), nil)
		at := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			firstErr = cmp.Or(firstErr, err)
			return
		}
		done[x.email], titles[x.email] = at, x.title
	})
	elapsed := time.Since(start)
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "bench: notification: %d reassignments failed, the first: %v\n", errs, firstErr)
	}
	var got map[string][]mailsink.Message
	if err := waitFor(ctx, notificationTail, "every assignee's email", func() (bool, string, error) {
		got = mailsTo(sink.Messages()[before:], done)
		return len(got) == len(done), fmt.Sprintf("%d of %d received", len(got), len(done)), nil
	}); err != nil {
		return Result{Errors: errs + len(done) - len(got)}, mailsink.Message{}, err
	}
	lat := make([]time.Duration, 0, len(done))
	for addr, at := range done {
		lat = append(lat, got[addr][0].Received.Sub(at))
	}
	res := summarize(lat, errs, elapsed)

	// A second copy would come from a redelivered event or a resend after a lost record.
	if err := e.waitNoPendingEmail(ctx, a); err != nil {
		return res, mailsink.Message{}, err
	}
	time.Sleep(time.Second)
	all := sink.Messages()[before:]
	got = mailsTo(all, done)
	var first mailsink.Message
	for addr, ms := range got {
		if len(ms) != 1 {
			return res, first, fmt.Errorf("%s received %d emails, want one", addr, len(ms))
		}
		if m := ms[0]; !strings.HasPrefix(m.Subject, "New review assignment") || !strings.Contains(m.Subject, titles[addr]) {
			return res, first, fmt.Errorf("%s received %q, want the assignment of %q", addr, m.Subject, titles[addr])
		}
		first = ms[0]
	}
	for _, m := range all {
		if len(mailsTo([]mailsink.Message{m}, done)) == 0 {
			return res, first, fmt.Errorf("%d emails in all, %d to the new assignees; one to %v: %q", len(all), len(got), m.To, m.Subject)
		}
	}
	return res, first, nil
}

// waitNoPendingEmail waits until the notification service has sent every email it queued for a.
func (e *env) waitNoPendingEmail(ctx context.Context, a account) error {
	return waitFor(ctx, notificationTail, "the account's emails to be sent", func() (bool, string, error) {
		var p struct {
			Deliveries []struct {
				Channel string `json:"channel"`
			} `json:"deliveries"`
		}
		if err := e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/notificationDeliveries?status=DELIVERY_STATUS_PENDING&pageSize=1000", a.key, "", &p); err != nil {
			return false, "", err
		}
		pending := 0
		for _, d := range p.Deliveries {
			if d.Channel == "CHANNEL_EMAIL" {
				pending++
			}
		}
		return pending == 0, fmt.Sprintf("%d pending", pending), nil
	})
}

// mailsTo groups the messages to the addresses of want by address (envelope recipients).
func mailsTo(ms []mailsink.Message, want map[string]time.Time) map[string][]mailsink.Message {
	out := make(map[string][]mailsink.Message, len(want))
	for _, m := range ms {
		for _, to := range m.To {
			if _, ok := want[strings.ToLower(to)]; ok {
				out[strings.ToLower(to)] = append(out[strings.ToLower(to)], m)
			}
		}
	}
	return out
}

// directSends has go-mail send copies of template (sender, subject, both bodies, the unsubscribe
// headers) at rate for d to the sink, each to an address of its own and over a connection of its
// own, as the notification worker sends a batch of one, and times each from the dial to the
// sink's receipt. The message is built before the clock starts: Orgplane renders its emails when
// it applies the event, before the send.
func directSends(ctx context.Context, sink *mailsink.Sink, template mailsink.Message, round int, rate float64, d time.Duration) (Result, error) {
	host, portText, err := net.SplitHostPort(sink.Addr())
	if err != nil {
		return Result{}, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return Result{}, err
	}
	client, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(30*time.Second))
	if err != nil {
		return Result{}, err
	}
	before := len(sink.Messages())
	var mu sync.Mutex
	sent := map[string]time.Time{}
	errs := 0
	var firstErr error
	var next atomic.Int64
	start := time.Now()
	paced(rate, d, func(int) {
		i := int(next.Add(1) - 1)
		to := fmt.Sprintf("direct-%d-%04d@%s", round, i, benchMailDomain)
		msg, err := copyOf(template, to)
		var at time.Time
		if err == nil {
			at = time.Now()
			c, dialErr := client.DialToSMTPClientWithContext(ctx)
			if err = dialErr; err == nil {
				err = client.SendWithSMTPClient(c, msg)
				_ = client.CloseWithSMTPClient(c)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			firstErr = cmp.Or(firstErr, err)
			return
		}
		sent[to] = at
	})
	elapsed := time.Since(start)
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "bench: notification: %d direct sends failed, the first: %v\n", errs, firstErr)
	}
	var got map[string][]mailsink.Message
	if err := waitFor(ctx, notificationTail, "the direct sends", func() (bool, string, error) {
		got = mailsTo(sink.Messages()[before:], sent)
		return len(got) == len(sent), fmt.Sprintf("%d of %d received", len(got), len(sent)), nil
	}); err != nil {
		return Result{Errors: errs + len(sent) - len(got)}, err
	}
	lat := make([]time.Duration, 0, len(sent))
	for to, at := range sent {
		lat = append(lat, got[to][0].Received.Sub(at))
	}
	return summarize(lat, errs, elapsed), nil
}

// copyOf is template as the notification service's sender builds it, to another address.
func copyOf(template mailsink.Message, to string) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.From(template.From); err != nil {
		return nil, err
	}
	if err := m.To(to); err != nil {
		return nil, err
	}
	m.Subject(template.Subject)
	m.SetMessageID()
	m.SetDate()
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if v := template.Header["List-Unsubscribe"]; len(v) > 0 {
		m.SetGenHeader(gomail.HeaderListUnsubscribe, v[0])
		m.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	m.SetBodyString(gomail.TypeTextPlain, template.Text)
	if template.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, template.HTML)
	}
	return m, nil
}
