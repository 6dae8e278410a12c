package domain_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Contoso Ltd.", "contoso"},
		{"contoso limited", "contoso"},
		{"Acme, Inc.", "acme"},
		{"ACME INC", "acme"},
		{"Acme Incorporated", "acme"},
		{"Acme L.L.C.", "acme"},
		{"Acme Co., Ltd.", "acme"},
		{"Acme Pty Ltd", "acme"},
		{"Müller GmbH & Co. KG", "muller"},
		{"Smith & Co.", "smith"},
		{"Johnson & Sons", "johnson and sons"},
		{"Johnson and Sons LLC", "johnson and sons"},
		{"Johnson&Sons", "johnson and sons"},
		{"Café Müller GmbH", "cafe muller"},
		{"Cafe Muller", "cafe muller"},
		{"Straße Bau AG", "strasse bau"},
		{"Ｆａｂｒｉｋａｍ", "fabrikam"},
		{"The Harbor Group", "harbor group"},
		{"Harbor Group", "harbor group"},
		{"St. Mary's Pharmacy", "st marys pharmacy"},
		{"St Marys Pharmacy", "st marys pharmacy"},
		{"O'Brien Realty", "obrien realty"},
		{"O’Brien Realty", "obrien realty"},
		{"Parker-Hale Consulting", "parker hale consulting"},
		{"  Acme \t  Dental\n", "acme dental"},
		{"Tri-County Credit Union 12", "tri county credit union 12"},
		// A name that is nothing but a form or "the" keeps a key rather than vanishing.
		{"The Company", "company"},
		{"Limited", "limited"},
		{"The", "the"},
		// A legal word inside the name is part of the name.
		{"Company Store Inc", "company store"},
		{"", ""},
		{"!!!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := domain.NormalizeName(tt.in); got != tt.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSuggestPairs scores one organization against one external.
func TestSuggestPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		org, ext string
		// want is the exact score; 0 means no suggestion; -1 means word similarity (between
		// MinScore and 0.9, exclusive).
		want   float64
		reason string // prefix
	}{
		{"Acme Dental", "Acme Dental", 1, "same name"},
		{"ACME Dental", "Acme Dental", 0.98, "same name ignoring case"},
		{"Acme, Inc.", "ACME INC", 0.95, "same name ignoring punctuation"},
		{"Parker-Hale Consulting", "ParkerHale Consulting", 0.95, "same name ignoring punctuation"},
		{"St. Mary's Pharmacy", "St Marys Pharmacy", 0.95, "same name ignoring punctuation"},
		{"Café Müller", "Cafe Muller", 0.95, "same name ignoring punctuation, spacing and accents"},
		{"Contoso Ltd.", "contoso limited", 0.9, "same name without the legal suffix"},
		{"Johnson & Sons", "Johnson and Sons LLC", 0.9, "same name without the legal suffix"},
		{"Café Müller GmbH", "Cafe Muller", 0.9, "same name without the legal suffix"},
		{"The Harbor Group", "Harbor Group", 0.9, `same name without the leading "The"`},
		{"Harbor Group", "the harbor group", 0.9, `same name without the leading "The"`},
		{"BlueRidge Dental, LLC", "Blue Ridge Dental", 0.9, "same name without the legal suffix"},
		{"Fabrikam Engineering", "Fabrikan Engineering", -1, "similar name (shared words: engineering; close spellings: fabrikam/fabrikan)"},
		{"Engineering Fabrikam", "Fabrikam Engineering", -1, "similar name (shared words: engineering, fabrikam)"},
		{"Acme Dental Group", "Acme Dental", -1, "similar name (shared words: acme, dental)"},
		{"Acme Dental", "Zenith Logistics", 0, ""},
		{"Acme Dental", "Summit Dental", 0, ""},
		{"Acme Dental", "Acne Dental", 0, ""}, // short words get no typo tolerance
		{"District 12", "District 13", 0, ""},
		{"", "", 0, ""},
		{"!!!", "!!!", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.org+" vs "+tt.ext, func(t *testing.T) {
			t.Parallel()
			got := domain.Suggest([]domain.Named{{ID: "o", Name: tt.org}}, []domain.Named{{ID: "e", Name: tt.ext}}, 3)
			s := got["o"]
			if tt.want == 0 {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no suggestion", got)
				}
				return
			}
			if len(s) != 1 || len(got) != 1 {
				t.Fatalf("got %+v, want one suggestion", got)
			}
			if s[0].OrganizationID != "o" || s[0].ExternalID != "e" {
				t.Errorf("ids = %q, %q", s[0].OrganizationID, s[0].ExternalID)
			}
			if tt.want == -1 {
				if s[0].Score < domain.MinScore || s[0].Score >= 0.9 {
					t.Errorf("score = %v, want word similarity in [%v, 0.9)", s[0].Score, domain.MinScore)
				}
			} else if s[0].Score != tt.want {
				t.Errorf("score = %v, want %v", s[0].Score, tt.want)
			}
			if !strings.HasPrefix(s[0].Reason, tt.reason) {
				t.Errorf("reason = %q, want prefix %q", s[0].Reason, tt.reason)
			}
		})
	}
}

func TestSuggestRanking(t *testing.T) {
	t.Parallel()
	orgs := []domain.Named{{ID: "o1", Name: "Contoso Dental"}, {ID: "o2", Name: "Zenith Logistics"}}
	exts := []domain.Named{
		{ID: "near-typo", Name: "Contosso Dental"},
		{ID: "near-words", Name: "Contoso Dental Group"},
		{ID: "suffix-b", Name: "Contoso Dental Ltd"},
		{ID: "suffix-a", Name: "Contoso Dental, Inc."},
		{ID: "case", Name: "CONTOSO DENTAL"},
		{ID: "twin", Name: "Contoso Dental"},
		{ID: "other", Name: "Summit Realty"},
		{ID: "dup-2", Name: "Contoso Dental Ltd"},
	}
	tests := []struct {
		perOrg int
		want   []string
	}{
		{1, []string{"twin"}},
		{3, []string{"twin", "case", "dup-2"}},
		// Equal scores fall to the external name ("Contoso Dental Ltd" < "Contoso Dental,
		// Inc.", byte order), then the id.
		{5, []string{"twin", "case", "dup-2", "suffix-b", "suffix-a"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.perOrg), func(t *testing.T) {
			t.Parallel()
			got := domain.Suggest(orgs, exts, tt.perOrg)
			if _, ok := got["o2"]; ok {
				t.Errorf("o2 has suggestions %+v, want none", got["o2"])
			}
			var ids []string
			for _, s := range got["o1"] {
				ids = append(ids, s.ExternalID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("o1 suggestions = %v, want %v", ids, tt.want)
			}
		})
	}

	all := domain.Suggest(orgs, exts, 100)["o1"]
	var ids []string
	for i, s := range all {
		ids = append(ids, s.ExternalID)
		if i > 0 && s.Score > all[i-1].Score {
			t.Errorf("not best first: %+v", all)
		}
	}
	// The typo is still offered, below every "same name" one. "Contoso Dental Group" is not:
	// "group" is the rarest word here, so it weighs more than the two shared ones.
	if want := []string{"twin", "case", "dup-2", "suffix-b", "suffix-a", "near-typo"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("all suggestions = %v", ids)
	}
	for _, s := range all[5:] {
		if s.Score >= 0.9 || !strings.HasPrefix(s.Reason, "similar name (") {
			t.Errorf("near suggestion %+v, want a word-similarity score below 0.9", s)
		}
	}
}

func TestSuggestNothing(t *testing.T) {
	t.Parallel()
	orgs := []domain.Named{{ID: "o", Name: "Acme Dental"}}
	exts := []domain.Named{{ID: "e", Name: "Acme Dental"}}
	for name, got := range map[string]map[string][]domain.Suggestion{
		"perOrg 0":     domain.Suggest(orgs, exts, 0),
		"no externals": domain.Suggest(orgs, nil, 3),
		"no orgs":      domain.Suggest(nil, exts, 3),
	} {
		if got == nil || len(got) != 0 {
			t.Errorf("%s: got %#v, want an empty map", name, got)
		}
	}
}

// TestSuggestDeterministic: the order of the inputs changes nothing, scores included.
func TestSuggestDeterministic(t *testing.T) {
	t.Parallel()
	base := simkit.BaseNames(400, 7)
	var orgs, exts []domain.Named
	for i, n := range base {
		orgs = append(orgs, domain.Named{ID: fmt.Sprintf("o%d", i), Name: n})
		exts = append(exts,
			domain.Named{ID: fmt.Sprintf("a%d", i), Name: simkit.Vary(n, simkit.Suffix, i)},
			domain.Named{ID: fmt.Sprintf("b%d", i), Name: simkit.Vary(n, simkit.Lower, i)},
		)
	}
	exts = append(exts, domain.Named{ID: "same-1", Name: "Acme Dental"}, domain.Named{ID: "same-2", Name: "Acme Dental"})
	want := domain.Suggest(orgs, exts, 5)
	if len(want) == 0 {
		t.Fatal("no suggestions at all")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		o, e := clone(orgs), clone(exts)
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		r.Shuffle(len(e), func(i, j int) { e[i], e[j] = e[j], e[i] })
		before := clone(e)
		if got := domain.Suggest(o, e, 5); !reflect.DeepEqual(got, want) {
			t.Fatal("shuffled inputs give different suggestions")
		}
		if !reflect.DeepEqual(e, before) {
			t.Fatal("Suggest changed its input")
		}
	}
}

func clone(s []domain.Named) []domain.Named { return append([]domain.Named(nil), s...) }

// TestSuggestPlantedPairs spells the simulators' seed names each tool's way: every variant's
// top suggestion is its own base name, strictly above the next one, in both directions (an
// Orgplane name against a tool's names, and a tool's name against Orgplane's).
func TestSuggestPlantedPairs(t *testing.T) {
	t.Parallel()
	base := simkit.BaseNames(300, 42)
	orgs := make([]domain.Named, len(base))
	for i, n := range base {
		orgs[i] = domain.Named{ID: fmt.Sprintf("org-%d", i), Name: n}
	}
	spell := map[string]func(n string, i int) string{}
	for _, v := range []struct {
		name string
		v    simkit.Variant
	}{{"AsIs", simkit.AsIs}, {"UpperFirst", simkit.UpperFirst}, {"Lower", simkit.Lower}, {"Suffix", simkit.Suffix}, {"NoPunct", simkit.NoPunct}} {
		spell[v.name] = func(n string, i int) string { return simkit.Vary(n, v.v, i) }
	}
	// The seeded tools mix the variants (see the simulators' SeedDefault).
	spell["mixed"] = func(n string, i int) string { return simkit.Vary(n, simkit.Variant(i%5), i) }

	for name, f := range spell {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exts := make([]domain.Named, len(base))
			for i, n := range base {
				exts[i] = domain.Named{ID: fmt.Sprintf("ext-%d", i), Name: f(n, i)}
			}
			checkTop(t, domain.Suggest(orgs, exts, 3), orgs, exts)
			checkTop(t, domain.Suggest(exts, orgs, 3), exts, orgs)
		})
	}
}

// checkTop asserts that from[i]'s top suggestion is to[i], strictly better than the runner-up.
func checkTop(t *testing.T, got map[string][]domain.Suggestion, from, to []domain.Named) {
	t.Helper()
	for i, f := range from {
		s := got[f.ID]
		switch {
		case len(s) == 0:
			t.Errorf("%q: no suggestion, want %q", f.Name, to[i].Name)
		case s[0].ExternalID != to[i].ID:
			t.Errorf("%q: top suggestion %+v, want %q", f.Name, s[0], to[i].Name)
		case len(s) > 1 && s[1].Score >= s[0].Score:
			t.Errorf("%q: runner-up %+v ties the twin %+v", f.Name, s[1], s[0])
		}
	}
}

// TestSuggestFast: 5,000 organizations against 5,000 externals, half of them twins spelled
// another way, must take well under a second.
func TestSuggestFast(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	orgs, exts := large(5000)
	start := time.Now()
	got := domain.Suggest(orgs, exts, 3)
	elapsed := time.Since(start)
	t.Logf("5,000 x 5,000: %v, %d organizations with suggestions", elapsed, len(got))
	if limit := time.Second; elapsed > limit {
		t.Errorf("Suggest took %v, want under %v", elapsed, limit)
	}
	if len(got) < 2500 {
		t.Errorf("only %d organizations have suggestions, want every planted twin found", len(got))
	}
}

func BenchmarkSuggest(b *testing.B) {
	orgs, exts := large(5000)
	for b.Loop() {
		domain.Suggest(orgs, exts, 3)
	}
}

// large builds n organizations and n externals: every other external is an organization's
// twin in another spelling, the rest are clients only the tool knows.
func large(n int) (orgs, exts []domain.Named) {
	names := simkit.BaseNames(2*n, 99)
	for i := range n {
		orgs = append(orgs, domain.Named{ID: fmt.Sprintf("o%d", i), Name: names[i]})
		name := names[n+i]
		if i%2 == 0 {
			name = simkit.Vary(names[i], simkit.Variant(i%5), i)
		}
		exts = append(exts, domain.Named{ID: fmt.Sprintf("e%d", i), Name: name})
	}
	return orgs, exts
}
