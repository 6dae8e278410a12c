package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/platform"
)

// scrape is one read of the suite's /metrics, parsed as Prometheus parses it.
type scrape map[string]*dto.MetricFamily

func scrapeOnce(t *testing.T, adminURL string) scrape {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the sample of name whose labels include want ("k=v" pairs), and whether there is
// one.
func (s scrape) value(name string, want ...string) (float64, bool) {
	f, ok := s[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !slices.ContainsFunc(want, func(kv string) bool { k, v, _ := strings.Cut(kv, "="); return labels[k] != v }) {
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetUntyped() != nil:
				return m.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}

// suiteConsumers lists every durable consumer of the suite with its stream, as the services
// declare them (the durables their NATS credentials allow).
func suiteConsumers(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range stack.Specs(nil) {
		p, err := platform.NATSPermissions(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		for _, subj := range p.Publish {
			if rest, ok := strings.CutPrefix(subj, "$JS.API.CONSUMER.CREATE."); ok {
				stream, durable, _ := strings.Cut(rest, ".")
				out[durable] = stream
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the suite declares no consumers")
	}
	return out
}

// Issue 17 point 6: every series of the metric contract (docs/observability.md) is on the
// suite's /metrics from the start, for every service and every durable consumer, and the values
// follow what happens: an organization created through the API is published (the counter
// grows, the backlog returns to 0), handled by the consumers of organization.created (their ok
// counter grows, their lag and pending return to 0), and counted against its account's license.
func TestEveryOperatorMetricIsScrapedAndFollowsTheSuite(t *testing.T) {
	s := startStack(t, withMetrics(metricsHandler(t)))
	consumers := suiteConsumers(t)
	var services []string
	for _, sp := range stack.Specs(nil) {
		services = append(services, sp.Name)
	}

	first := scrapeOnce(t, s.st.AdminURL)
	var absent []string
	need := func(sc scrape, name string, labels ...string) float64 {
		v, ok := sc.value(name, labels...)
		if !ok {
			absent = append(absent, fmt.Sprintf("%s%v", name, labels))
		}
		return v
	}
	for _, svc := range services {
		l := "service=" + svc
		for _, name := range []string{"orgplane_outbox_backlog_events", "orgplane_outbox_oldest_age_seconds",
			"orgplane_outbox_published_events_total", "orgplane_outbox_publish_errors_total",
			"orgplane_db_pool_acquired_connections", "orgplane_db_pool_idle_connections", "orgplane_db_pool_max_connections",
			"orgplane_db_pool_empty_acquires_total", "orgplane_db_pool_acquire_wait_seconds_total"} {
			need(first, name, l)
		}
		if v := need(first, "orgplane_db_pool_max_connections", l); v <= 0 {
			t.Errorf("orgplane_db_pool_max_connections{%s} = %v", l, v)
		}
	}
	for durable, stream := range consumers {
		for _, name := range []string{"orgplane_consumer_pending_events", "orgplane_consumer_ack_pending_events",
			"orgplane_consumer_redelivered_events", "orgplane_consumer_lag_seconds"} {
			need(first, name, "consumer="+durable, "stream="+stream)
		}
		for _, o := range []string{events.OutcomeOK, events.OutcomeRetried, events.OutcomeRejected, events.OutcomeDeadLettered} {
			need(first, "orgplane_events_consumed_total", "consumer="+durable, "outcome="+o)
		}
	}
	for _, state := range []string{"under", "at_limit", "over_limit"} {
		need(first, "orgplane_license_accounts", "state="+state)
	}
	need(first, platform.BuildInfoMetric)
	if len(absent) > 0 {
		t.Fatalf("missing from /metrics at start: %s", strings.Join(absent, ", "))
	}

	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Metered MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create account = %d %s", created.code, created.body)
	}
	m := created.json(t)
	account, key := m["account"].(map[string]any)["id"].(string), m["administratorApiKey"].(string)
	orgConsumers := consumersOf(t, s, "orgplane.org.v1."+account+".organization.created")
	before := scrapeOnce(t, s.st.AdminURL)
	// Counters are the process's: earlier suites in this test binary added to them too.
	published0, _ := before.value("orgplane_outbox_published_events_total", "service=org")
	errors0 := map[string]float64{}
	for _, svc := range services {
		errors0[svc], _ = before.value("orgplane_outbox_publish_errors_total", "service="+svc)
	}
	ok0 := map[string]float64{}
	for _, c := range orgConsumers {
		ok0[c], _ = before.value("orgplane_events_consumed_total", "consumer="+c, "outcome=ok")
	}
	if r := s.do("POST", "/v1/accounts/"+account+"/organizations", key, `{"name":"Metered Org"}`); r.code != http.StatusOK {
		t.Fatalf("create organization = %d %s", r.code, r.body)
	}

	// The license gauges are read at most every 10 s, the consumers' every 3 s.
	var waiting []string
	deadline := time.Now().Add(40 * time.Second)
	for {
		sc := scrapeOnce(t, s.st.AdminURL)
		waiting = waiting[:0]
		check := func(what string, ok bool) {
			if !ok {
				waiting = append(waiting, what)
			}
		}
		published, _ := sc.value("orgplane_outbox_published_events_total", "service=org")
		check(fmt.Sprintf("published_events_total{service=org} to grow past %v (is %v)", published0, published), published > published0)
		backlog, _ := sc.value("orgplane_outbox_backlog_events", "service=org")
		age, _ := sc.value("orgplane_outbox_oldest_age_seconds", "service=org")
		check(fmt.Sprintf("the org outbox to be empty (backlog %v, oldest %v s)", backlog, age), backlog == 0 && age == 0)
		for _, c := range orgConsumers {
			ok, _ := sc.value("orgplane_events_consumed_total", "consumer="+c, "outcome=ok")
			check(fmt.Sprintf("consumed_total{consumer=%s,outcome=ok} to grow past %v (is %v)", c, ok0[c], ok), ok > ok0[c])
			pending, _ := sc.value("orgplane_consumer_pending_events", "consumer="+c)
			unacked, _ := sc.value("orgplane_consumer_ack_pending_events", "consumer="+c)
			lag, _ := sc.value("orgplane_consumer_lag_seconds", "consumer="+c)
			check(fmt.Sprintf("consumer %s to catch up (pending %v, unacknowledged %v, lag %v s)", c, pending, unacked, lag),
				pending == 0 && unacked == 0 && lag == 0)
		}
		used, okUsed := sc.value("orgplane_license_used_organizations", "account="+account)
		limit, okLimit := sc.value("orgplane_license_limit_organizations", "account="+account)
		check(fmt.Sprintf("the account's license gauges (used %v of %v)", used, limit), okUsed && okLimit && used == 1 && limit > 1)
		under, _ := sc.value("orgplane_license_accounts", "state=under")
		check(fmt.Sprintf("license_accounts{state=under} >= 1 (is %v)", under), under >= 1)
		if len(waiting) == 0 {
			for _, svc := range services {
				if v, _ := sc.value("orgplane_outbox_publish_errors_total", "service="+svc); v != errors0[svc] {
					t.Errorf("orgplane_outbox_publish_errors_total{service=%s} went from %v to %v with NATS up", svc, errors0[svc], v)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 40 s of the create, still waiting for: %s", strings.Join(waiting, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
