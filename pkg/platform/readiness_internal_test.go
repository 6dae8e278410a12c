package platform

import (
	"strings"
	"testing"
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
