package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

var at = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func company(name string) connector.Company {
	return connector.Company{ExternalID: "7", Name: name, StatusID: "1", StatusName: "Active", Active: true, UpdatedAt: at.Add(-time.Hour)}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	created, c := domain.Reconcile(nil, company("Acme"), true, at, "refresh")
	if c != domain.Created || created.State != domain.ExternalSyncing || created.StateBy != "refresh" {
		t.Fatalf("first sight: %v %+v", c, created)
	}
	same, c := domain.Reconcile(&created, company("Acme"), true, at.Add(time.Minute), "refresh")
	if c != domain.Unchanged || !same.LastSeen.Equal(at.Add(time.Minute)) {
		t.Fatalf("unchanged: %v %+v", c, same)
	}
	renamed, c := domain.Reconcile(&same, company("Acme, LLC"), true, at, "webhook")
	if c != domain.Changed || renamed.Name != "Acme, LLC" || renamed.State != domain.ExternalSyncing {
		t.Fatalf("renamed: %v %+v", c, renamed)
	}
	del := company("Acme, LLC")
	del.Deleted = true
	orphan, c := domain.Reconcile(&renamed, del, true, at, "refresh")
	if c != domain.Orphaned || orphan.State != domain.ExternalOrphaned || orphan.StateReason != domain.ReasonDeleted {
		t.Fatalf("deleted: %v %+v", c, orphan)
	}
	again, c := domain.Reconcile(&orphan, del, true, at.Add(time.Hour), "refresh")
	if c != domain.Unchanged || !again.StateAt.Equal(at) {
		t.Fatalf("an orphan seen deleted again is no news: %v %+v", c, again)
	}
	back, c := domain.Reconcile(&again, company("Acme, LLC"), true, at, "refresh")
	if c != domain.Changed || back.State != domain.ExternalSyncing || back.StateReason != "" {
		t.Fatalf("an orphan that reappears syncs again: %v %+v", c, back)
	}
	firstDeleted, c := domain.Reconcile(nil, del, true, at, "refresh")
	if c != domain.Orphaned || firstDeleted.State != domain.ExternalOrphaned {
		t.Fatalf("first seen deleted: %v %+v", c, firstDeleted)
	}
}

func TestOrphan(t *testing.T) {
	t.Parallel()
	e, _ := domain.Reconcile(nil, company("Acme"), true, at, "refresh")
	o, ok := domain.Orphan(e, domain.ReasonGone, at, "refresh")
	if !ok || o.State != domain.ExternalOrphaned || o.StateReason != domain.ReasonGone {
		t.Fatalf("orphan: %v %+v", ok, o)
	}
	if _, ok := domain.Orphan(o, domain.ReasonGone, at, "refresh"); ok {
		t.Fatal("orphaning an orphan again must report no change")
	}
}

func TestChooseMode(t *testing.T) {
	t.Parallel()
	last := at.Add(-time.Hour)
	for _, tc := range []struct {
		name             string
		asked            domain.RefreshMode
		incremental      bool
		lastFull, lastAt time.Time
		want             domain.RefreshMode
	}{
		{"full asked", domain.ModeFull, true, last, last, domain.ModeFull},
		{"auto after a full", domain.ModeAuto, true, last, last, domain.ModeIncremental},
		{"never fully refreshed", domain.ModeIncremental, true, time.Time{}, last, domain.ModeFull},
		{"tool without change filter", domain.ModeIncremental, false, last, last, domain.ModeFull},
	} {
		got, since := domain.ChooseMode(tc.asked, tc.incremental, tc.lastFull, tc.lastAt)
		if got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.name, got, tc.want)
		}
		if got == domain.ModeIncremental && !since.Equal(last.Add(-domain.IncrementalSkew)) {
			t.Errorf("%s: since %v", tc.name, since)
		}
	}
}

func TestRetryDelayIsCappedExponential(t *testing.T) {
	t.Parallel()
	prev := time.Duration(0)
	for a := 1; a <= 20; a++ {
		d := domain.RetryDelay(a)
		if d < prev || d > 5*time.Minute {
			t.Fatalf("attempt %d: %v after %v", a, d, prev)
		}
		prev = d
	}
	if domain.RetryDelay(20) != 5*time.Minute {
		t.Fatalf("cap: %v", domain.RetryDelay(20))
	}
}

func TestCheckFieldsNamesTheField(t *testing.T) {
	t.Parallel()
	k := connector.Kind{Name: "x", Title: "X", Fields: []connector.Field{
		{Name: "apiKey", Required: true, Secret: true}, {Name: "region", Secret: true}, {Name: "listUrl", Required: true},
	}}
	for _, tc := range []struct {
		name           string
		settings, cred map[string]string
		have           []string
		complete       bool
		field          string
	}{
		{"unknown credential", map[string]string{"listUrl": "u"}, map[string]string{"apiKey": "k", "nope": "v"}, nil, true, "credentials.nope"},
		{"secret as a setting", map[string]string{"listUrl": "u", "apiKey": "k"}, nil, nil, true, "settings.apiKey"},
		{"setting as a credential", map[string]string{"listUrl": "u"}, map[string]string{"apiKey": "k", "listUrl": "u"}, nil, true, "credentials.listUrl"},
		{"missing required credential", map[string]string{"listUrl": "u"}, nil, nil, true, "credentials.apiKey"},
		{"missing required setting", nil, map[string]string{"apiKey": "k"}, nil, true, "settings.listUrl"},
		{"required credential already stored", map[string]string{"listUrl": "u"}, nil, []string{"apiKey"}, true, ""},
		{"complete", map[string]string{"listUrl": "u"}, map[string]string{"apiKey": "k"}, nil, true, ""},
	} {
		err := domain.CheckFields(k, tc.settings, tc.cred, tc.have, tc.complete)
		var ae *apperr.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (!errors.As(err, &ae) || ae.Field != tc.field):
			t.Errorf("%s: got %v, want a refusal naming %s", tc.name, err, tc.field)
		}
	}
}

func TestScopeOrphansAndPreview(t *testing.T) {
	t.Parallel()
	scope := domain.SyncScope{PSAStatusIDs: []string{"1"}}
	active := company("Acme")
	inactive := company("Globex")
	inactive.StatusID = "2"
	if !scope.InScope(active) || scope.InScope(inactive) {
		t.Fatal("scope by status")
	}
	if !(domain.SyncScope{}).InScope(inactive) {
		t.Fatal("an empty scope admits all")
	}
	a, _ := domain.Reconcile(nil, active, true, at, "refresh")
	g, _ := domain.Reconcile(nil, inactive, true, at, "refresh")
	stop, start, in := domain.Preview(scope, []domain.ExternalOrganization{a, g})
	if stop != 1 || start != 0 || in != 1 {
		t.Fatalf("preview %d stop %d start %d in", stop, start, in)
	}
	out, c := domain.Reconcile(&g, inactive, scope.InScope(inactive), at, "refresh")
	if c != domain.Orphaned || out.StateReason != domain.ReasonOutOfScope {
		t.Fatalf("out of scope: %v %+v", c, out)
	}
	// Widening the scope again: the preview says it comes back, and it does.
	if _, start, _ := domain.Preview(domain.SyncScope{}, []domain.ExternalOrganization{a, out}); start != 1 {
		t.Fatalf("start %d, want 1", start)
	}
	back, c := domain.Reconcile(&out, inactive, true, at, "refresh")
	if c != domain.Changed || back.State != domain.ExternalSyncing {
		t.Fatalf("back in scope: %v %+v", c, back)
	}
}
