package events_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// Issue 17: on a clean start a consumer may come up before its producer has created the stream;
// that is the normal order of things, not a warning. It waits, says so once at info, creates
// nothing, and consumes once the producer's stream appears.
func TestConsumerWaitsQuietlyForItsProducersStream(t *testing.T) {
	h := newHarness(t)
	var buf lockedBuffer
	h.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.startConsumer()

	waiting := func() (info, debug int) {
		for _, line := range buf.lines() {
			var rec map[string]any
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if rec["level"] == "WARN" || rec["level"] == "ERROR" {
				t.Fatalf("warned on a clean start: %s", line)
			}
			if strings.HasPrefix(rec["msg"].(string), "waiting for the producer") {
				if rec["stream"] != "ORGPLANE_ORG" {
					t.Fatalf("the line does not name the stream: %s", line)
				}
				if rec["level"] == "INFO" {
					info++
				} else {
					debug++
				}
			}
		}
		return info, debug
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, debug := waiting(); debug > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not retry: %v", buf.lines())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.js.Stream(h.ctx, "ORGPLANE_ORG"); err == nil {
		t.Fatal("the consumer created its producer's stream")
	}

	h.ensureStreams()
	h.startRelay()
	id := h.commitChange("11111111-1111-1111-1111-111111111111")
	h.waitApplied(id, 15*time.Second)
	if info, _ := waiting(); info != 1 {
		t.Fatalf("said it was waiting %d times at info, want once", info)
	}
}
