package domain_test

import (
	"math"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

var jan15 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

func TestOnlyTrialingAndActiveSubscriptionsAreWritable(t *testing.T) {
	t.Parallel()
	for s, want := range map[domain.State]bool{
		domain.StateUnspecified: false, domain.StateTrialing: true, domain.StateActive: true,
		domain.StatePastDue: false, domain.StateCanceled: false,
	} {
		if s.Writable() != want {
			t.Errorf("%d.Writable() = %v", s, !want)
		}
	}
}

func TestNewTrial(t *testing.T) {
	t.Parallel()
	s := domain.NewTrial("a1", domain.TrialTerms{Limit: 25, Days: 30}, jan15)
	want := domain.Subscription{AccountID: "a1", PlanName: "Trial", Limit: 25, State: domain.StateTrialing,
		PeriodStart: jan15, PeriodEnd: time.Date(2026, 2, 14, 10, 0, 0, 0, time.UTC), Updated: jan15}
	if s != want {
		t.Fatalf("NewTrial = %+v", s)
	}
	if l := s.OrgLimit(); l != (domain.OrgLimit{Limit: 25, Writable: true}) {
		t.Fatalf("OrgLimit = %+v", l)
	}
}

func wantErr(t *testing.T, err error, kind apperr.Kind, msg string) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != kind || ae.Error() != msg {
		t.Fatalf("err = %v, want %s %q", err, kind, msg)
	}
}

func TestLicenseArithmetic(t *testing.T) {
	t.Parallel()
	limited := domain.Subscription{AccountID: "a1", Limit: 10, State: domain.StateActive}
	unlimited := domain.Subscription{AccountID: "a1", Unlimited: true, State: domain.StateActive}

	for _, c := range []struct {
		name    string
		sub     domain.Subscription
		add     bool
		n       int32
		limit   int32
		errKind apperr.Kind
		errMsg  string
	}{
		{name: "add", sub: limited, add: true, n: 5, limit: 15},
		{name: "remove some", sub: limited, n: 4, limit: 6},
		{name: "remove all", sub: limited, n: 10, limit: 0},
		{name: "remove more than there are", sub: limited, n: 11, errKind: apperr.KindInvalid, errMsg: "count: there are only 10 licenses"},
		{name: "add to unlimited", sub: unlimited, add: true, n: 1, errKind: apperr.KindFailedPrecondition,
			errMsg: "the plan is unlimited; there are no licenses to add"},
		{name: "remove from unlimited", sub: unlimited, n: 1, errKind: apperr.KindFailedPrecondition,
			errMsg: "the plan is unlimited; there are no licenses to remove"},
		{name: "add past the largest limit", sub: domain.Subscription{Limit: math.MaxInt32 - 2, State: domain.StateActive}, add: true, n: 3,
			errKind: apperr.KindInvalid, errMsg: "count: the limit cannot exceed 2147483647 licenses"},
		// Issue 12: a canceled or past-due account is read-only, licenses included, whatever
		// the plan.
		{name: "add to a canceled subscription", sub: domain.Subscription{Limit: 10, State: domain.StateCanceled}, add: true, n: 1,
			errKind: apperr.KindPermissionDenied, errMsg: "the subscription is canceled: the account is read-only until the subscription is reactivated"},
		{name: "remove from a past-due unlimited one", sub: domain.Subscription{Unlimited: true, State: domain.StatePastDue}, n: 1,
			errKind: apperr.KindPermissionDenied, errMsg: "the subscription is past due: the account is read-only until the subscription is reactivated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got domain.Subscription
			var err error
			if c.add {
				got, err = c.sub.AddLicenses(c.n)
			} else {
				got, err = c.sub.RemoveLicenses(c.n)
			}
			if c.errMsg != "" {
				wantErr(t, err, c.errKind, c.errMsg)
				if got != c.sub {
					t.Fatalf("a refused change changed the subscription: %+v", got)
				}
				return
			}
			if err != nil || got.Limit != c.limit {
				t.Fatalf("limit = %d, %v; want %d", got.Limit, err, c.limit)
			}
		})
	}
}

func TestUpdateCopiesOnlyTheNamedFields(t *testing.T) {
	t.Parallel()
	cur := domain.NewTrial("a1", domain.TrialTerms{Limit: 25, Days: 30}, jan15)
	in := domain.Subscription{AccountID: "other", PlanName: "Pro", Unlimited: true, Limit: 999, State: domain.StateCanceled,
		PeriodStart: jan15.AddDate(0, 1, 0), PeriodEnd: jan15.AddDate(0, 2, 0)}

	got, err := cur.Update(in, []string{"state"})
	if err != nil || got.State != domain.StateCanceled || got.PlanName != "Trial" || got.Unlimited || got.Limit != 25 {
		t.Fatalf("state only: %+v %v", got, err)
	}
	if got.OrgLimit().Writable {
		t.Fatal("a canceled subscription is writable")
	}
	got, err = cur.Update(in, domain.UpdatableFields)
	if err != nil || got.PlanName != "Pro" || !got.Unlimited || got.Limit != 25 || got.AccountID != "a1" ||
		!got.PeriodStart.Equal(in.PeriodStart) || !got.PeriodEnd.Equal(in.PeriodEnd) {
		t.Fatalf("all fields: %+v %v", got, err)
	}

	_, err = cur.Update(domain.Subscription{}, []string{"plan_name", "state"})
	wantErr(t, err, apperr.KindInvalid, "subscription.state: is required")
	_, err = cur.Update(in, []string{"organization_limit"})
	wantErr(t, err, apperr.KindInvalid, `update_mask: "organization_limit" cannot be changed`)
}
