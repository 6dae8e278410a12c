package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/orgplane/orgplane/pkg/observability"
)

func TestLogsCarryTraceIDsAndMetricsAreServed(t *testing.T) {
	ctx := context.Background()
	tel, err := observability.Setup(ctx, "orgplane-test", "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)

	var buf bytes.Buffer
	log := observability.NewLogger(&buf, slog.LevelInfo).With("service", "test")
	ctx, span := otel.Tracer("test").Start(ctx, "op")
	log.InfoContext(ctx, "hello")
	span.End()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["service"] != "test" {
		t.Fatalf("log record %v lacks the trace id %s", rec, span.SpanContext().TraceID())
	}

	counter, _ := otel.Meter("test").Int64Counter("orgplane_test_events")
	counter.Add(ctx, 3)
	rr := httptest.NewRecorder()
	tel.Metrics.ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body := rr.Body.String()
	for _, want := range []string{"go_goroutines", "orgplane_test_events_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
