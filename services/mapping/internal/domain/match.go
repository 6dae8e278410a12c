package domain

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Named is something with an id and a name (an Orgplane organization, an external organization).
type Named struct{ ID, Name string }

// Suggestion is one likely twin of an Orgplane organization in an integration. It is advice for
// the admin only: nothing is linked until the admin saves it as an ordinary batch.
type Suggestion struct {
	OrganizationID, ExternalID string
	// Score is 0..1, 1 meaning an identical name. The tiers are fixed so that people (and tests)
	// can rely on them: 1 identical, 0.98 same ignoring case, 0.95 same ignoring punctuation,
	// spacing and accents, 0.9 same without legal suffixes or a leading "The", at most 0.85 for
	// names that only share words.
	Score float64
	// Reason says, for people, why the names look alike.
	Reason string
}

// MinScore is the lowest score Suggest returns. 0.6 on the word-similarity scale (0.85 × a
// weighted Dice coefficient) means the names must share about 70% of their distinctive words:
// "Acme Dental Group" still suggests "Acme Dental", while two clients that share only a common
// trade word ("Acme Dental" and "Summit Dental") do not suggest each other.
const MinScore = 0.6

const (
	scoreIdentical  = 1.0
	scoreCaseless   = 0.98
	scoreLoose      = 0.95
	scoreNormalized = 0.9
	// scoreWordsMax keeps word similarity strictly below every "same name" tier, so a name that
	// is the same once normalized always outranks one that merely shares its words.
	scoreWordsMax = 0.85
	// fuzzyCredit is the part of a word's weight earned by a one-typo spelling of it.
	fuzzyCredit = 0.8
	// pruneSlack keeps pruning from dropping a pair whose score rounds up to MinScore.
	pruneSlack = 1e-4
	// minFuzzyLen keeps typo tolerance off short words, where one edit changes the word
	// ("acme" / "acne", "bank" / "band").
	minFuzzyLen = 5
)

const (
	reasonIdentical  = "same name"
	reasonCaseless   = "same name ignoring case"
	reasonLoose      = "same name ignoring punctuation, spacing and accents"
	reasonSuffix     = "same name without the legal suffix"
	reasonLeadingThe = `same name without the leading "The"`
)

// isLegalSuffix reports whether a normalized word is a company form that tools add or drop at
// will ("Acme Dental" in one tool is "Acme Dental, LLC" in the next). Multi-word forms ("Co.,
// Ltd.", "Pty Ltd", "GmbH & Co. KG", "Sdn Bhd") are stripped word by word.
func isLegalSuffix(w string) bool {
	switch w {
	case "inc", "incorporated", "llc", "lc", "ltd", "limited", "corp", "corporation", "co", "company",
		"pllc", "llp", "lllp", "lp", "pc", "pa", "plc", "pty", "pte", "pvt",
		"gmbh", "ag", "kg", "kgaa", "ohg", "ug", "ev",
		"sa", "sas", "sarl", "sarlu", "sl", "slu", "srl", "spa", "sc", "scs", "snc", "sca",
		"bv", "nv", "bvba", "vof", "ab", "oy", "oyj", "aps", "asa", "kft", "zrt", "sro", "spzoo",
		"ltda", "lda", "sdn", "bhd", "kk", "gk":
		return true
	}
	return false
}

// normalizer turns names into matching keys. It holds a stateful transformer, so one belongs
// to one goroutine; Suggest makes its own.
type normalizer struct {
	deaccent transform.Transformer
}

func newNormalizer() *normalizer {
	// NFKD also splits ligatures and full-width letters ("ﬁ", "ＡＣＭＥ") into plain ones before
	// the combining marks (the accents) are dropped.
	return &normalizer{deaccent: transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)}
}

// nameKeys are one name's keys, from strictest to loosest.
type nameKeys struct {
	caseless string   // lower case
	loose    string   // words without accents, punctuation or spaces
	theless  string   // loose, without a leading "the"
	compact  string   // the normalized words without spaces
	words    []string // the normalized words: the matching key of NormalizeName
}

func (n *normalizer) keys(name string) nameKeys {
	lower := strings.ToLower(name)
	words := n.words(lower)
	k := nameKeys{caseless: lower, loose: strings.Join(words, "")}
	if len(words) > 1 && words[0] == "the" {
		k.theless = strings.Join(words[1:], "")
	} else {
		k.theless = k.loose
	}
	k.words = stripForms(words)
	k.compact = strings.Join(k.words, "")
	return k
}

// words splits a lower-cased name into accent-free words. Apostrophes and periods join
// ("O'Brien" is "obrien", "L.L.C." is "llc", "St. Mary's" is "st marys"), "&" is the word
// "and", and any other punctuation separates words ("Parker-Hale" is "parker hale").
func (n *normalizer) words(lower string) []string {
	if !isASCII(lower) {
		if s, _, err := transform.String(n.deaccent, lower); err == nil {
			lower = strings.ToLower(s)
		}
	}
	var (
		out []string
		b   strings.Builder
	)
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range lower {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f := foldLetter(r); f != "" {
				b.WriteString(f)
			} else {
				b.WriteRune(r)
			}
		case r == '\'' || r == '.' || r == '’' || r == '‘' || r == '`' || r == 'ʼ' || r == '´':
			// Joins: the word goes on.
		case r == '&' || r == '+':
			flush()
			out = append(out, "and")
		default:
			flush()
		}
	}
	flush()
	return out
}

// foldLetter spells the Latin letters that have no decomposition the way people type them
// without the key ("ß" as "ss", "ø" as "o").
func foldLetter(r rune) string {
	switch r {
	case 'ß':
		return "ss"
	case 'æ':
		return "ae"
	case 'œ':
		return "oe"
	case 'ø':
		return "o"
	case 'ł':
		return "l"
	case 'đ', 'ð':
		return "d"
	case 'þ':
		return "th"
	case 'ı':
		return "i"
	}
	return ""
}

// stripForms drops a leading "the" and trailing legal forms, always keeping one word so that
// "The Company" or "Limited" still have a key.
func stripForms(words []string) []string {
	if len(words) > 1 && words[0] == "the" {
		words = words[1:]
	}
	stripped := false
	for len(words) > 1 {
		last := words[len(words)-1]
		switch {
		case isLegalSuffix(last):
			stripped = true
		case last == "and" && stripped:
			// "Smith & Co." is Smith's company, not "Smith and".
		default:
			return words
		}
		words = words[:len(words)-1]
	}
	return words
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NormalizeName is the matching key: lower case, accents removed, "&" as "and", punctuation
// removed, white space collapsed, legal suffixes (Inc, LLC, Ltd, GmbH, ...) removed at the end
// (also several, "Co., Ltd."), a leading "The" removed. "The Café Müller & Co. GmbH" and
// "cafe muller" have the same key.
func NormalizeName(name string) string {
	return strings.Join(newNormalizer().keys(name).words, " ")
}

// Suggest returns, per organization, at most perOrg suggestions among externals, best first
// (ties by external name, then id), only those scoring at least MinScore; organizations with
// none are absent. The same external may be suggested to several organizations: the admin
// decides. Externals are indexed by each key and by word, so the cost grows with the number of
// plausible pairs, not with orgs × externals.
func Suggest(orgs, externals []Named, perOrg int) map[string][]Suggestion {
	out := map[string][]Suggestion{}
	if perOrg <= 0 || len(orgs) == 0 || len(externals) == 0 {
		return out
	}
	m := newMatcher(orgs, externals)
	for i := range orgs {
		if s := m.suggest(i, perOrg); len(s) > 0 {
			out[orgs[i].ID] = s
		}
	}
	return out
}

// matcher is one Suggest call's index. Words are interned as ints so that per-pair work is
// integer comparisons.
type matcher struct {
	orgs, exts []Named
	orgKeys    []nameKeys
	orgWords   [][]int32 // unique word ids per organization, in name order
	extWords   [][]int32
	extWeight  []float64 // sum of the external's word weights

	words   []string  // word id -> word
	weight  []float64 // word id -> inverse document frequency
	posting [][]int32 // word id -> externals holding the word

	byName, byCaseless, byLoose, byTheless, byCompact map[string][]int32

	fuzzyIndex map[string][]int32 // one-deletion spellings of external words -> word ids
	fuzzyCache map[int32][]int32  // word id -> external words one typo away

	// Per-organization scratch, indexed by external, reset through touched.
	best    []float64
	reason  []string
	acc     []float64
	seen    []bool
	touched []int32
}

func newMatcher(orgs, exts []Named) *matcher {
	n := newNormalizer()
	m := &matcher{
		orgs: orgs, exts: exts,
		orgKeys:  make([]nameKeys, len(orgs)),
		orgWords: make([][]int32, len(orgs)), extWords: make([][]int32, len(exts)),
		extWeight:  make([]float64, len(exts)),
		byName:     map[string][]int32{},
		byCaseless: map[string][]int32{},
		byLoose:    map[string][]int32{},
		byTheless:  map[string][]int32{},
		byCompact:  map[string][]int32{},
		fuzzyIndex: map[string][]int32{},
		fuzzyCache: map[int32][]int32{},
		best:       make([]float64, len(exts)),
		reason:     make([]string, len(exts)),
		acc:        make([]float64, len(exts)),
		seen:       make([]bool, len(exts)),
	}
	ids := map[string]int32{}
	var df []int
	intern := func(words []string) []int32 {
		out := make([]int32, 0, len(words))
		for _, w := range words {
			id, ok := ids[w]
			if !ok {
				id = int32(len(m.words))
				ids[w] = id
				m.words = append(m.words, w)
				df = append(df, 0)
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
				df[id]++
			}
		}
		return out
	}
	for i, o := range orgs {
		m.orgKeys[i] = n.keys(o.Name)
		m.orgWords[i] = intern(m.orgKeys[i].words)
	}
	for i, e := range exts {
		k := n.keys(e.Name)
		m.extWords[i] = intern(k.words)
		if k.compact == "" {
			continue // nothing to match on ("", "!!!")
		}
		e32 := int32(i)
		m.byName[e.Name] = append(m.byName[e.Name], e32)
		m.byCaseless[k.caseless] = append(m.byCaseless[k.caseless], e32)
		m.byLoose[k.loose] = append(m.byLoose[k.loose], e32)
		m.byTheless[k.theless] = append(m.byTheless[k.theless], e32)
		m.byCompact[k.compact] = append(m.byCompact[k.compact], e32)
	}
	// Rare words say more about a client than "dental" or "group" do; both sides count, so a
	// word common among the organizations is light too.
	docs := float64(len(orgs) + len(exts))
	m.weight = make([]float64, len(m.words))
	for id, d := range df {
		m.weight[id] = math.Log(1 + docs/float64(d))
	}
	m.posting = make([][]int32, len(m.words))
	for i, ws := range m.extWords {
		for _, id := range ws {
			m.extWeight[i] += m.weight[id]
			m.posting[id] = append(m.posting[id], int32(i))
		}
	}
	for id, p := range m.posting {
		if len(p) > 0 && fuzzyEligible(m.words[id]) {
			for _, d := range deletions(m.words[id]) {
				m.fuzzyIndex[d] = append(m.fuzzyIndex[d], int32(id))
			}
		}
	}
	return m
}

// fuzzyEligible keeps typo tolerance to long words without digits: "District 12" and "District
// 13" are two clients.
func fuzzyEligible(w string) bool {
	if utf8.RuneCountInString(w) < minFuzzyLen {
		return false
	}
	return !strings.ContainsFunc(w, unicode.IsDigit)
}

// deletions returns w and every spelling of w with one letter removed. Two words within one
// edit (substitution, insertion, deletion, adjacent swap) share one of these.
func deletions(w string) []string {
	rs := []rune(w)
	out := make([]string, 0, len(rs)+1)
	out = append(out, w)
	for i := range rs {
		out = append(out, string(rs[:i])+string(rs[i+1:]))
	}
	return out
}

// neighbors returns the external words one typo away from word id (not the word itself).
func (m *matcher) neighbors(id int32) []int32 {
	if ns, ok := m.fuzzyCache[id]; ok {
		return ns
	}
	var ns []int32
	w := m.words[id]
	if fuzzyEligible(w) {
		for _, d := range deletions(w) {
			for _, cand := range m.fuzzyIndex[d] {
				if cand != id && !slices.Contains(ns, cand) && withinOneEdit(w, m.words[cand]) {
					ns = append(ns, cand)
				}
			}
		}
		slices.Sort(ns)
	}
	m.fuzzyCache[id] = ns
	return ns
}

// withinOneEdit reports whether a and b differ by at most one substitution, insertion,
// deletion or swap of adjacent letters.
func withinOneEdit(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	switch len(ra) - len(rb) {
	case 0:
		var diff []int
		for i := range ra {
			if ra[i] != rb[i] {
				diff = append(diff, i)
				if len(diff) > 2 {
					return false
				}
			}
		}
		switch len(diff) {
		case 0, 1:
			return true
		case 2:
			i, j := diff[0], diff[1]
			return j == i+1 && ra[i] == rb[j] && ra[j] == rb[i]
		}
		return false
	case 1:
		i := 0
		for i < len(rb) && ra[i] == rb[i] {
			i++
		}
		return slices.Equal(ra[i+1:], rb[i:])
	}
	return false
}

// suggest scores organization i against every external that shares a key or a word with it.
func (m *matcher) suggest(i, perOrg int) []Suggestion {
	k := m.orgKeys[i]
	if k.compact == "" {
		return nil
	}
	defer m.reset()

	// The "same name" tiers, strictest first so each external keeps its best.
	m.mark(m.byName[m.orgs[i].Name], scoreIdentical, reasonIdentical)
	m.mark(m.byCaseless[k.caseless], scoreCaseless, reasonCaseless)
	m.mark(m.byLoose[k.loose], scoreLoose, reasonLoose)
	if k.theless != k.loose {
		m.mark(m.byLoose[k.theless], scoreNormalized, reasonLeadingThe)
	}
	m.mark(m.byTheless[k.loose], scoreNormalized, reasonLeadingThe)
	m.mark(m.byCompact[k.compact], scoreNormalized, reasonSuffix)

	m.markSimilarWords(i)

	var cands []int32
	for _, e := range m.touched {
		if m.best[e] >= MinScore {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b int32) int {
		if c := cmp.Compare(m.best[b], m.best[a]); c != 0 {
			return c
		}
		if c := strings.Compare(m.exts[a].Name, m.exts[b].Name); c != 0 {
			return c
		}
		return strings.Compare(m.exts[a].ID, m.exts[b].ID)
	})
	if len(cands) > perOrg {
		cands = cands[:perOrg]
	}
	out := make([]Suggestion, len(cands))
	for j, e := range cands {
		reason := m.reason[e]
		if reason == "" {
			reason = m.wordReason(i, int(e))
		}
		out[j] = Suggestion{OrganizationID: m.orgs[i].ID, ExternalID: m.exts[e].ID, Score: m.best[e], Reason: reason}
	}
	return out
}

// mark records score for the externals unless they already scored higher.
func (m *matcher) mark(exts []int32, score float64, reason string) {
	for _, e := range exts {
		if !m.seen[e] {
			m.seen[e] = true
			m.touched = append(m.touched, e)
		}
		if score > m.best[e] {
			m.best[e], m.reason[e] = score, reason
		}
	}
}

func (m *matcher) reset() {
	for _, e := range m.touched {
		m.best[e], m.reason[e], m.acc[e], m.seen[e] = 0, "", 0, false
	}
	m.touched = m.touched[:0]
}

// markSimilarWords scores the externals that share words (or one-typo spellings of them) with
// organization i. Only the organization's heaviest words are looked up: the lightest ones,
// whose total weight could not lift any pair to MinScore alone, are left out of the lookup
// (prefix filtering), which keeps "dental" and "group" from pulling in thousands of externals.
// They still count in the score of every external found.
func (m *matcher) markSimilarWords(i int) {
	ws := m.orgWords[i]
	var total float64
	for _, id := range ws {
		total += m.weight[id]
	}
	byWeight := slices.Clone(ws)
	slices.SortFunc(byWeight, func(a, b int32) int {
		if c := cmp.Compare(m.weight[b], m.weight[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	// An external found only through skipped words holds at most rest of the organization's
	// weight, so its Dice coefficient is at most 2·rest/(total+rest).
	probe, rest := len(byWeight), 0.0
	for probe > 0 {
		r := rest + m.weight[byWeight[probe-1]]
		if scoreWordsMax*2*r/(total+r) >= MinScore-pruneSlack {
			break
		}
		rest = r
		probe--
	}
	var found []int32
	add := func(e int32, credit float64) {
		if m.acc[e] == 0 {
			found = append(found, e)
		}
		m.acc[e] += credit
	}
	for _, id := range byWeight[:probe] {
		for _, e := range m.posting[id] {
			add(e, m.weight[id])
		}
	}
	// Typos are looked up for every word: a misspelled word is rare, so it is cheap, and the
	// bound above assumes every skipped word could only match exactly.
	for _, id := range ws {
		for _, n := range m.neighbors(id) {
			credit := fuzzyCredit * (m.weight[id] + m.weight[n]) / 2
			for _, e := range m.posting[n] {
				add(e, credit)
			}
		}
	}
	for _, e := range found {
		if m.best[e] >= scoreNormalized {
			continue // already the same name
		}
		// acc over-counts (several typos may claim one word), so it only bounds the score.
		if scoreWordsMax*2*(m.acc[e]+rest)/(total+m.extWeight[e]) < MinScore-pruneSlack {
			m.acc[e] = 0
			continue
		}
		m.acc[e] = 0
		if score, _, _ := m.wordScore(i, int(e)); score > m.best[e] {
			if !m.seen[e] {
				m.seen[e] = true
				m.touched = append(m.touched, e)
			}
			m.best[e], m.reason[e] = score, "" // explained once chosen: most candidates are dropped
		}
	}
}

// wordScore is the weighted Sørensen–Dice coefficient of the two names' normalized words,
// scaled to scoreWordsMax: each organization word matches at most one external word, exactly
// (full weight) or else one typo away (fuzzyCredit of the pair's mean weight).
func (m *matcher) wordScore(i, e int) (score float64, shared []int32, close [][2]int32) {
	ow, ew := m.orgWords[i], m.extWords[e]
	used := make([]bool, len(ew))
	var matched, total float64
	var pending []int32
	for _, id := range ow {
		total += m.weight[id]
		if j := slices.Index(ew, id); j >= 0 {
			used[j] = true
			matched += m.weight[id]
			shared = append(shared, id)
			continue
		}
		pending = append(pending, id)
	}
	for _, id := range pending {
		ns := m.neighbors(id)
		for j, eid := range ew {
			if !used[j] && slices.Contains(ns, eid) {
				used[j] = true
				matched += fuzzyCredit * (m.weight[id] + m.weight[eid]) / 2
				close = append(close, [2]int32{id, eid})
				break
			}
		}
	}
	denom := total + m.extWeight[e]
	if matched == 0 || denom == 0 {
		return 0, nil, nil
	}
	// Rounded so that equal names get equal scores whatever the float noise, and ties fall to
	// the name order.
	score = math.Round(scoreWordsMax*2*matched/denom*1e4) / 1e4
	return score, shared, close
}

// wordReason explains a word-similarity suggestion with the words that matched.
func (m *matcher) wordReason(i, e int) string {
	_, shared, close := m.wordScore(i, e)
	var parts []string
	if len(shared) > 0 {
		ws := make([]string, len(shared))
		for j, id := range shared {
			ws[j] = m.words[id]
		}
		parts = append(parts, "shared words: "+strings.Join(ws, ", "))
	}
	if len(close) > 0 {
		ws := make([]string, len(close))
		for j, p := range close {
			ws[j] = m.words[p[0]] + "/" + m.words[p[1]]
		}
		parts = append(parts, "close spellings: "+strings.Join(ws, ", "))
	}
	return "similar name (" + strings.Join(parts, "; ") + ")"
}
