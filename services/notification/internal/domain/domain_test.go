package domain_test

import (
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

func TestClockReadsTheAccountsZoneAndFormat(t *testing.T) {
	t.Parallel()
	at := time.Date(2027, 1, 1, 3, 30, 0, 0, time.UTC) // still Dec 31 in Chicago
	for _, c := range []struct {
		zone     string
		format   domain.DateFormat
		date, dt string
		day      string
	}{
		{"America/Chicago", domain.DateFormatMMDDYYYY, "12/31/2026", "12/31/2026 21:30 CST", "03/04/2027"},
		{"Europe/Berlin", domain.DateFormatDDMMYYYY, "01/01/2027", "01/01/2027 04:30 CET", "04/03/2027"},
		{"UTC", domain.DateFormatYYYYMMDD, "2027-01-01", "2027-01-01 03:30 UTC", "2027-03-04"},
		{"", domain.DateFormatUnspecified, "01/01/2027", "01/01/2027 03:30 UTC", "03/04/2027"},
		{"Not/AZone", domain.DateFormatDDMMYYYY, "01/01/2027", "01/01/2027 03:30 UTC", "04/03/2027"},
	} {
		clk := domain.NewClock(c.zone, c.format)
		if got := clk.Date(at); got != c.date {
			t.Errorf("%s %d: Date = %q, want %q", c.zone, c.format, got, c.date)
		}
		if got := clk.DateTime(at); got != c.dt {
			t.Errorf("%s %d: DateTime = %q, want %q", c.zone, c.format, got, c.dt)
		}
		if got := clk.Day("2027-03-04"); got != c.day {
			t.Errorf("%s %d: Day = %q, want %q", c.zone, c.format, got, c.day)
		}
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	users := map[string]domain.User{
		"ann":  {ID: "ann", Email: "ann@x.test", Active: true, AllOrganizations: true},
		"bob":  {ID: "bob", Email: "Bob@x.test", Active: true, AllOrganizations: true},
		"cat":  {ID: "cat", Email: "cat@x.test", Active: false, AllOrganizations: true},
		"dan":  {ID: "dan", Email: "dan@x.test", Active: true, GroupIDs: []string{"g2"}},
		"eve":  {ID: "eve", Email: "eve@x.test", Active: true, GroupIDs: []string{"g1"}},
		"noml": {ID: "noml", Active: true, AllOrganizations: true},
	}
	prefs := map[string]map[domain.Kind]domain.Preference{
		"bob": {domain.KindOwnershipChanged: {Kind: domain.KindOwnershipChanged, Email: false, InApp: true}},
	}
	plan := domain.Plan([]domain.Audience{
		{Kind: domain.KindReviewAssigned, UserIDs: []string{"ann"}},
		{Kind: domain.KindReviewReassigned, UserIDs: []string{"bob"}},
		// ann and bob are told already; bob's address too; "BOB@x.test" is bob.
		{Kind: domain.KindOwnershipChanged, UserIDs: []string{"ann", "bob", "cat", "dan", "eve", "ghost", "noml"},
			Addresses: []string{"BOB@x.test", "ext@y.test", "Ext@y.test"}},
	}, users, prefs, []string{"g1"})
	type row struct {
		kind    domain.Kind
		channel domain.Channel
		who     string
		skip    string
	}
	var got []row
	for _, p := range plan {
		who := p.UserID
		if who == "" {
			who = p.Address
		}
		got = append(got, row{p.Kind, p.Channel, who, p.Skip})
	}
	want := []row{
		{domain.KindReviewAssigned, domain.ChannelEmail, "ann", ""},
		{domain.KindReviewAssigned, domain.ChannelInApp, "ann", ""},
		// bob's ownership preference is not his reassignment preference.
		{domain.KindReviewReassigned, domain.ChannelEmail, "bob", ""},
		{domain.KindReviewReassigned, domain.ChannelInApp, "bob", ""},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "cat", domain.SkipInactive},
		{domain.KindOwnershipChanged, domain.ChannelInApp, "cat", domain.SkipInactive},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "dan", domain.SkipNotVisible},
		{domain.KindOwnershipChanged, domain.ChannelInApp, "dan", domain.SkipNotVisible},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "eve", ""},
		{domain.KindOwnershipChanged, domain.ChannelInApp, "eve", ""},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "ghost", domain.SkipUnknownUser},
		{domain.KindOwnershipChanged, domain.ChannelInApp, "ghost", domain.SkipUnknownUser},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "noml", domain.SkipNoAddress},
		{domain.KindOwnershipChanged, domain.ChannelInApp, "noml", ""},
		{domain.KindOwnershipChanged, domain.ChannelEmail, "ext@y.test", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("plan has %d deliveries, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("delivery %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// The cap skips emails beyond the allowance in plan order, never in-app entries.
	if n := domain.ApplyCap(plan, 2); n != 2 {
		t.Fatalf("ApplyCap sent %d, want 2", n)
	}
	var capped []string
	for _, p := range plan {
		if p.Skip == domain.SkipCapReached {
			if p.Channel != domain.ChannelEmail {
				t.Errorf("cap skipped an in-app entry for %s", p.UserID)
			}
			who := p.UserID
			if who == "" {
				who = p.Address
			}
			capped = append(capped, who)
		}
	}
	if len(capped) != 2 || capped[0] != "eve" || capped[1] != "ext@y.test" {
		t.Errorf("capped %v, want [eve ext@y.test]", capped)
	}
}
