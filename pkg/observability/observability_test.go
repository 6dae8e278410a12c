package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/orgplane/orgplane/pkg/observability"
)

func TestLogsCarryTraceIDsAndMetricsAreServed(t *testing.T) {
	ctx := context.Background()
	tel, err := observability.Setup(ctx, "orgplane-test", "dev")
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

func TestLogFormatFollowsTheDestinationAndTheEnvironment(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cases := []struct {
		name, env string
		w         func() (io.Writer, func() string)
		json      bool
	}{
		{"a buffer gets JSON", "", buffer, true},
		{"a pipe gets JSON", "", func() (io.Writer, func() string) {
			return pw, func() string {
				pw.Close()
				b, _ := io.ReadAll(pr)
				return string(b)
			}
		}, true},
		{"text when asked", "text", buffer, false},
		{"json when asked", "JSON", buffer, true},
		{"auto when asked", "auto", buffer, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(observability.FormatEnv, c.env)
			w, read := c.w()
			observability.NewLogger(w, slog.LevelInfo).Info("hello", "n", 1)
			out := read()
			var rec map[string]any
			isJSON := json.Unmarshal([]byte(out), &rec) == nil
			if isJSON != c.json || !strings.Contains(out, "hello") {
				t.Fatalf("wrote %q; want JSON: %v", out, c.json)
			}
			if !c.json && (!strings.Contains(out, "INF") || !strings.Contains(out, "n=1") || strings.Contains(out, "\x1b[")) {
				t.Fatalf("text line %q lacks the level or the attribute, or is coloured for a non-terminal", out)
			}
		})
	}

	t.Run("an unknown format says so and still logs", func(t *testing.T) {
		t.Setenv(observability.FormatEnv, "xml")
		w, read := buffer()
		observability.NewLogger(w, slog.LevelInfo).Info("hello")
		out := read()
		if !strings.Contains(out, `ORGPLANE_LOG_FORMAT=\"xml\"`) || !strings.Contains(out, `"msg":"hello"`) {
			t.Fatalf("got %q", out)
		}
	})
}

func TestTextLogsCarryTraceIDs(t *testing.T) {
	ctx := context.Background()
	tel, err := observability.Setup(ctx, "orgplane-test", "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	var buf bytes.Buffer
	ctx, span := otel.Tracer("test").Start(ctx, "op")
	observability.NewLoggerFormat(&buf, slog.LevelInfo, observability.FormatText).InfoContext(ctx, "hello")
	span.End()
	if want := "trace_id=" + span.SpanContext().TraceID().String(); !strings.Contains(buf.String(), want) {
		t.Fatalf("text line %q lacks %s", buf.String(), want)
	}
}

func TestAttributesNamedLikeSecretsAreRedacted(t *testing.T) {
	for _, format := range []observability.Format{observability.FormatJSON, observability.FormatText} {
		var buf bytes.Buffer
		log := observability.NewLoggerFormat(&buf, slog.LevelInfo, format).With("Authorization", "Bearer s3cr3t-1")
		log.Info("call", "password", "s3cr3t-2", "refresh_token", "s3cr3t-3", slog.Group("req", "cookie", "s3cr3t-4"),
			"page_size", 10, "credential", "creds file")
		out := buf.String()
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s: a secret reached the log: %s", format, out)
		}
		for _, keep := range []string{"page_size", "creds file", observability.Redacted} {
			if !strings.Contains(out, keep) {
				t.Errorf("%s: %q missing from %s", format, keep, out)
			}
		}
	}
}

func buffer() (io.Writer, func() string) {
	var b bytes.Buffer
	return &b, b.String
}
