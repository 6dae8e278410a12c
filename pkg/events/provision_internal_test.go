package events

import (
	"log/slog"
	"testing"
	"time"
)

func TestAMissingStreamIsWarnedOnlyAfterTheGrace(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		waiting  time.Duration
		saidOnce bool
		want     slog.Level
	}{
		{0, false, slog.LevelInfo},
		{time.Second, true, slog.LevelDebug},
		{streamGrace - time.Millisecond, true, slog.LevelDebug},
		{streamGrace, true, slog.LevelWarn},
		{time.Hour, false, slog.LevelWarn},
	} {
		if got := provisionLevel(c.waiting, c.saidOnce); got != c.want {
			t.Errorf("after %s (said before: %v): %v, want %v", c.waiting, c.saidOnce, got, c.want)
		}
	}
}
