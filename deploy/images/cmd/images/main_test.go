package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// Bad flags are refused before anything is built, naming what is wrong.
func TestFlagsAreChecked(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "") // unset: -created is then required
	const created = "2025-01-02T03:04:05Z"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-created", created}, "-version is required"},
		{[]string{"-version", "1.0.0"}, "-created is required"},
		{[]string{"-version", "1.0.0", "-created", "yesterday"}, "RFC 3339"},
		{[]string{"-version", "1.0.0", "-created", created, "-only", "org,payroll"}, `no image "payroll"`},
		{[]string{"-version", "1.0.0+build.5", "-created", created}, "must be a valid tag"},
		{[]string{"-version", "1.0.0", "-created", created, "org"}, "unexpected arguments"},
	} {
		err := run(t.Context(), append(tc.args, "-out", t.TempDir()), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1735787045")
	o, err := parseFlags([]string{"-version", "1.0.0"}, io.Discard)
	if err != nil || o.Created.Format(time.RFC3339) != created {
		t.Errorf("with SOURCE_DATE_EPOCH: created %s, %v; want %s", o.Created, err, created)
	}
}
