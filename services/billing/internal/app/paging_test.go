package app_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

// walk reads every page of a list at size, failing on a page that is not full but continues.
func walk[T any](t *testing.T, size int, list func(token string) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := list(token)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if pages > 20 || (next != "" && len(page) != size) {
			t.Fatalf("page %d: %d items, next %q", pages, len(page), next)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		token = next
	}
}

// badPageToken requires the refusal every list gives a token it did not issue: InvalidArgument
// naming page_token.
func badPageToken(t *testing.T, what string, err error) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind != apperr.KindInvalid || ae.Field != "page_token" {
		t.Errorf("%s: %v, want InvalidArgument naming page_token", what, err)
	}
}

func TestLicenseChangesPageNewestFirst(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	ctx := adminOf(acc)
	// Seven changes: pairs recorded within one clock tick, so the order within an instant (the
	// record's sequence) decides where a page ends as well.
	for i := range 6 {
		if i%2 == 0 {
			h.now = h.now.Add(time.Minute)
		}
		if _, err := h.svc.AddLicenses(ctx, acc, int32(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	all, _, err := h.svc.LicenseChanges(ctx, acc, 0, "")
	if err != nil || len(all) != 7 {
		t.Fatalf("one page of every change: %d %v", len(all), err)
	}
	for i, c := range all[:6] {
		if c.Delta != int32(6-i) {
			t.Fatalf("change %d adds %d, want newest first: %+v", i, c.Delta, all)
		}
	}
	for _, size := range []int{1, 2, 3} {
		got := walk(t, size, func(token string) ([]domain.LicenseChange, string, error) {
			return h.svc.LicenseChanges(ctx, acc, int32(size), token)
		})
		if !slices.EqualFunc(got, all, func(a, b domain.LicenseChange) bool { return a.ID == b.ID }) {
			t.Errorf("pages of %d: %v, want %v", size, got, all)
		}
	}

	_, tok, err := h.svc.LicenseChanges(ctx, acc, 2, "")
	if err != nil || tok == "" {
		t.Fatal(err)
	}
	altered := tok[:len(tok)/2] + "A" + tok[len(tok)/2+1:]
	if altered == tok {
		altered = tok[:len(tok)/2] + "B" + tok[len(tok)/2+1:]
	}
	_, _, err = h.svc.LicenseChanges(ctx, acc, 2, altered)
	badPageToken(t, "an altered token", err)
	// A position written by the caller: {"t":"2026-01-15T10:00:00Z","s":5} in base64.
	_, _, err = h.svc.LicenseChanges(ctx, acc, 2, "eyJ0IjoiMjAyNi0wMS0xNVQxMDowMDowMFoiLCJzIjo1fQ")
	badPageToken(t, "a forged token", err)
	other := h.newAccount()
	_, _, err = h.svc.LicenseChanges(adminOf(other), other, 2, tok)
	badPageToken(t, "another account's token", err)
	_, _, err = h.svc.UsageHistory(ctx, acc, "2026-01-01", "2026-01-31", 2, tok)
	badPageToken(t, "the token on another list", err)
}

func TestUsageHistoryPagesOverDays(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	ctx := adminOf(acc)
	list := func(start, end string, size int) func(string) ([]domain.DailyUsage, string, error) {
		return func(token string) ([]domain.DailyUsage, string, error) {
			return h.svc.UsageHistory(ctx, acc, start, end, int32(size), token)
		}
	}
	for _, size := range []int{1, 3, 7, 8} {
		days := walk(t, size, list("2026-01-10", "2026-01-16", size))
		var got []string
		for _, d := range days {
			got = append(got, d.Date)
		}
		var want []string
		for d := 10; d <= 16; d++ {
			want = append(want, fmt.Sprintf("2026-01-%d", d))
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %v, want %v", size, got, want)
		}
	}
	// The longest range pages at the cap.
	if days := walk(t, pagetoken.MaxPageSize, list("2025-01-01", "2026-01-01", pagetoken.MaxPageSize)); len(days) != 366 {
		t.Errorf("%d days from 2025-01-01 to 2026-01-01", len(days))
	}

	// The range is part of the query a token is bound to.
	_, tok, err := list("2026-01-10", "2026-01-16", 3)("")
	if err != nil || tok == "" {
		t.Fatal(err)
	}
	if page, _, err := list("2026-01-10", "2026-01-16", 3)(tok); err != nil || len(page) != 3 || page[0].Date != "2026-01-13" {
		t.Fatalf("the token's own range: %v %v", page, err)
	}
	for what, q := range map[string][2]string{"another start": {"2026-01-11", "2026-01-16"}, "another end": {"2026-01-10", "2026-01-17"}} {
		_, _, err := list(q[0], q[1], 3)(tok)
		badPageToken(t, what, err)
	}
	_, _, err = h.svc.LicenseChanges(ctx, acc, 3, tok)
	badPageToken(t, "the token on another list", err)
}
