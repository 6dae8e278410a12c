package domain_test

import (
	"errors"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestLicensesRemainingIsNeverNegative(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ limit, used, want int }{
		{10, 0, 10}, {10, 7, 3}, {10, 10, 0}, {5, 8, 0}, {0, 0, 0},
	} {
		if got := domain.LicensesRemaining(tc.limit, tc.used); got != tc.want {
			t.Errorf("LicensesRemaining(%d, %d) = %d, want %d", tc.limit, tc.used, got, tc.want)
		}
	}
}

func TestLicenseFits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    domain.LicenseCount
		n    int
		want bool
	}{
		{"room for one", domain.LicenseCount{Limit: 10, Writable: true, Used: 9}, 1, true},
		{"full", domain.LicenseCount{Limit: 10, Writable: true, Used: 10}, 1, false},
		{"a bulk that overflows", domain.LicenseCount{Limit: 10, Writable: true, Used: 5}, 6, false},
		{"a bulk that fills it", domain.LicenseCount{Limit: 10, Writable: true, Used: 5}, 5, true},
		{"unlimited", domain.LicenseCount{Unlimited: true, Writable: true, Used: 1e6}, 100, true},
		{"read-only", domain.LicenseCount{Unlimited: true, Used: 0}, 1, false},
	} {
		if got := tc.c.Fits(tc.n); got != tc.want {
			t.Errorf("%s: Fits(%d) = %v, want %v", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestLicenseRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		c                     domain.LicenseCount
		n                     int
		kind                  apperr.Kind
		reason, quota, errMsg string
	}{
		{name: "limit reached", c: domain.LicenseCount{Limit: 10, Writable: true, Used: 10},
			kind: apperr.KindFailedPrecondition, reason: "LICENSE_LIMIT", quota: "organization licenses",
			errMsg: "license limit reached: 10 of 10 licenses in use, 0 remaining"},
		{name: "some left, not enough", c: domain.LicenseCount{Limit: 10, Writable: true, Used: 7}, n: 5,
			kind: apperr.KindFailedPrecondition, reason: "LICENSE_LIMIT", quota: "organization licenses",
			errMsg: "license limit reached: 7 of 10 licenses in use, 3 remaining, 5 requested"},
		{name: "limit lowered below use", c: domain.LicenseCount{Limit: 5, Writable: true, Used: 8},
			kind: apperr.KindFailedPrecondition, reason: "LICENSE_LIMIT", quota: "organization licenses",
			errMsg: "license limit reached: 8 of 5 licenses in use, 0 remaining"},
		{name: "subscription inactive", c: domain.LicenseCount{Limit: 10, Used: 2},
			kind: apperr.KindPermissionDenied, reason: "SUBSCRIPTION_INACTIVE",
			errMsg: "the account's subscription is canceled or past due: the account is read-only until the subscription is reactivated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.c.Refusal(max(tc.n, 1))
			wantErr(t, err, tc.kind, "", tc.errMsg)
			ae, _ := apperr.As(err)
			if ae.Reason != tc.reason || ae.QuotaSubject != tc.quota {
				t.Errorf("reason %q quota %q, want %q %q", ae.Reason, ae.QuotaSubject, tc.reason, tc.quota)
			}
			if tc.reason == "SUBSCRIPTION_INACTIVE" && !errors.Is(err, domain.ErrSubscriptionInactive) {
				t.Error("not ErrSubscriptionInactive")
			}
		})
	}
}
