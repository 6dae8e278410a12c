package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// walk reads every page of a list at size and returns the keys of its items, failing on a page
// that is not full but continues.
func walk[T any](t *testing.T, size int, key func(T) string, list func(size int32, token string) ([]T, string, error)) []string {
	t.Helper()
	var keys []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := list(int32(size), token)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if pages > 20 || (next != "" && len(page) != size) {
			t.Fatalf("page %d: %d items, next %q", pages, len(page), next)
		}
		for _, it := range page {
			keys = append(keys, key(it))
		}
		if next == "" {
			return keys
		}
		token = next
	}
}

// badPageToken requires the refusal every list gives a token it did not issue: InvalidArgument
// naming page_token.
func badPageToken(t *testing.T, what string, err error) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind != apperr.KindInvalid || ae.Field != "page_token" || !errors.Is(err, pagetoken.ErrBadToken) {
		t.Errorf("%s: %v, want InvalidArgument naming page_token", what, err)
	}
}

// The integration lists and the fixed list of kinds page by kind, each item once, with tokens
// of their own.
func TestIntegrationListsPageByKind(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(false)
	// Created out of kind order: the order is the kind's, not the creation's.
	var want []string
	for _, kind := range []string{"itglue", "autotask", "connectwise"} {
		want = append(want, w.connect(svc, kind, domain.BudgetPolicy{}).ID)
	}
	want = []string{want[1], want[2], want[0]}
	mapping := identity.With(context.Background(), identity.Service("mapping"))
	for _, size := range []int{1, 2, 3, 4} {
		got := walk(t, size, func(v app.IntegrationView) string { return v.ID }, func(size int32, token string) ([]app.IntegrationView, string, error) {
			return svc.ListIntegrations(w.ctx(), w.account, size, token)
		})
		if !slices.Equal(got, want) {
			t.Errorf("integrations in pages of %d: %v, want %v", size, got, want)
		}
		got = walk(t, size, func(in domain.Integration) string { return in.ID }, func(size int32, token string) ([]domain.Integration, string, error) {
			return svc.IntegrationSummaries(mapping, w.account, size, token)
		})
		if !slices.Equal(got, want) {
			t.Errorf("summaries in pages of %d: %v, want %v", size, got, want)
		}
		kinds := walk(t, size, func(k connector.Kind) string { return k.Name }, func(size int32, token string) ([]connector.Kind, string, error) {
			return svc.ListKinds(w.ctx(), w.account, size, token)
		})
		if names := integrationsyncsvc.Kinds().Names(); len(names) < 4 || !slices.Equal(kinds, names) {
			t.Errorf("kinds in pages of %d: %v, want %v", size, kinds, names)
		}
	}

	_, tok, err := svc.ListIntegrations(w.ctx(), w.account, 1, "")
	if err != nil || tok == "" {
		t.Fatal(err)
	}
	_, _, err = svc.ListIntegrations(w.ctx(), w.account, 1, flipLast(tok))
	badPageToken(t, "an altered token", err)
	// A position written by the caller: {"k":"autotask","i":"x"} in base64.
	_, _, err = svc.ListIntegrations(w.ctx(), w.account, 1, "eyJrIjoiYXV0b3Rhc2siLCJpIjoieCJ9")
	badPageToken(t, "a forged token", err)
	_, _, err = svc.IntegrationSummaries(mapping, w.account, 1, tok)
	badPageToken(t, "the integrations token on the summaries", err)
	_, _, err = svc.ListKinds(w.ctx(), w.account, 1, tok)
	badPageToken(t, "the integrations token on the kinds", err)
}
