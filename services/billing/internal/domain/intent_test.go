package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

func TestNextIntent(t *testing.T) {
	t.Parallel()
	desired := domain.Subscription{AccountID: "a1", Limit: 12, State: domain.StatePastDue}
	i, err := domain.NextIntent(false, 4, domain.IntentAddLicenses, desired, 2, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if i.Generation != 5 || i.Status != domain.IntentPending || i.AccountID != "a1" || i.Delta != 2 || i.ChangedBy != "u1" {
		t.Fatalf("intent = %+v", i)
	}
	if l := i.OrgLimit(); l != (domain.OrgLimit{Limit: 12, Writable: false, Generation: 5}) {
		t.Fatalf("OrgLimit = %+v", l)
	}
	if first, _ := domain.NextIntent(false, 0, domain.IntentTrial, desired, 25, "service:billing"); first.Generation != 1 {
		t.Fatalf("first generation = %d", first.Generation)
	}

	if _, err := domain.NextIntent(true, 4, domain.IntentAddLicenses, desired, 2, "u1"); !errors.Is(err, domain.ErrChangeInProgress) {
		t.Fatalf("with a pending intent: %v", err)
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	t.Parallel()
	b := domain.Backoff{Base: time.Second, Max: 30 * time.Second}
	for attempt, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second,
		6: 30 * time.Second, 100: 30 * time.Second,
	} {
		if got := b.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
}
