package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestOnlyCanonicalTimeZonesAreAccepted(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"America/Chicago", "Europe/Amsterdam", "Etc/UTC", "UTC", "Asia/Kolkata", "Etc/GMT+5"} {
		if err := domain.CheckTimeZone(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	// Each of these loads with time.LoadLocation from the embedded database.
	for _, bad := range []string{"right/UTC", "posixrules", "Factory", "US/Eastern", "Asia/Calcutta", "GB", "Local", "",
		"America/", "Mars/Olympus", "America/Chicago\n", "america/chicago"} {
		if err := domain.CheckTimeZone(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestEveryListedTimeZoneLoads keeps the list and the tzdata the binary embeds in step: a name
// the list offers must be one the service can use.
func TestEveryListedTimeZoneLoads(t *testing.T) {
	t.Parallel()
	zones := domain.TimeZones()
	if len(zones) < 300 || !slices.IsSorted(zones) {
		t.Fatalf("%d zones, sorted %v", len(zones), slices.IsSorted(zones))
	}
	for _, z := range zones {
		if _, err := time.LoadLocation(z); err != nil {
			t.Errorf("%s: %v", z, err)
		}
		if err := domain.CheckTimeZone(z); err != nil {
			t.Errorf("listed %s refused: %v", z, err)
		}
	}
}

func TestCurrenciesAreISOCodesInCapitals(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"USD", "EUR", "JPY"} {
		if err := domain.CheckCurrency(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"usd", "Eur", "US", "USDX", "", "ZZZ"} {
		if err := domain.CheckCurrency(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	list := domain.Currencies()
	if !slices.Contains(list, "USD") || len(list) < 100 {
		t.Fatalf("currencies: %d", len(list))
	}
	for _, c := range list {
		if err := domain.CheckCurrency(c); err != nil {
			t.Errorf("listed %s refused: %v", c, err)
		}
	}
}
