package postgres_test

import (
	"testing"

	"github.com/orgplane/orgplane/pkg/postgres"
)

func TestEscapeLike(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{`50%_off`: `50\%\_off`, `a\b`: `a\\b`, `plain`: `plain`} {
		if got := postgres.EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}
