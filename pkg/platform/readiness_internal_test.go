package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// NATS before 2.10 cannot run consumers with several filter subjects (billing's never started on
// 2.9); such a server is refused by name.
func TestNATSVersionCheck(t *testing.T) {
	for v, ok := range map[string]bool{
		"2.9.25": false, "2.9.0": false, "1.4.1": false, "": false,
		"2.10.0": true, "2.10.22": true, "2.11.0-RC.1": true, "2.12.1": true, "3.0.0": true,
	} {
		err := checkNATSVersion(v)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", v, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "2.10 or newer") {
			t.Errorf("%q: message %q does not say what is needed", v, err)
		}
	}
}

// Issue 17: a clean start logged "not ready" warnings while peers and streams were still coming
// up. Not being ready is how starting looks: info until the service is first ready or the
// startup grace is over; a warning after that.
func TestNotReadyWarnsOnlyAfterStartingUp(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := newReadiness(slog.New(slog.NewJSONHandler(&buf, nil)))
	r.set("peer org not answering")
	r.set("")
	r.set("NATS not connected")
	want := []string{"INFO not ready: NOT_SERVING", "INFO ready: SERVING", "WARN not ready: NOT_SERVING"}
	if got := levelsAndMessages(t, &buf); !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}

	// One that never got ready warns once the grace is over, however its reason changes.
	buf.Reset()
	r = newReadiness(slog.New(slog.NewJSONHandler(&buf, nil)))
	r.started = time.Now().Add(-startupGrace)
	r.set("peer org not answering")
	want = []string{"WARN not ready: NOT_SERVING"}
	if got := levelsAndMessages(t, &buf); !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
}

// A service whose reason never changes past the grace says so once as a warning.
func TestNeverReadyIsWarnedOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := newReadiness(slog.New(slog.NewJSONHandler(&buf, nil)))
	r.set("schema version 0, want 1") // at info, while starting
	r.started = time.Now().Add(-startupGrace)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, func(context.Context) string { return "schema version 0, want 1" })
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	want := []string{"INFO not ready: NOT_SERVING", "WARN started but not ready"}
	if got := levelsAndMessages(t, &buf); !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
}

func levelsAndMessages(t *testing.T, buf *bytes.Buffer) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, rec.Level+" "+rec.Msg)
	}
	return out
}
