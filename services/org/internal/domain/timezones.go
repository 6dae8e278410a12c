package domain

import (
	_ "embed"
	"slices"
	"strings"

	"golang.org/x/text/currency"
)

// timezonesTxt lists the canonical IANA zone names: the Zone lines of tzdata. time.LoadLocation
// also loads links (US/Eastern), the "right/" leap-second variants, posixrules and Factory from
// the embedded database; a stored zone must be one name per place so reports and UIs agree,
// and a UI can offer exactly this list (TimeZones).
//
//go:embed timezones.txt
var timezonesTxt string

// UTCZone is accepted beside the canonical Etc/UTC: it is the stored default of every account's
// settings and the spelling everyone types.
const UTCZone = "UTC"

// TimeZones returns the zone names settings accept, sorted.
func TimeZones() []string {
	var out []string
	for _, line := range strings.Split(timezonesTxt, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	out = append(out, UTCZone)
	slices.Sort(out)
	return out
}

func canonicalTimeZone(name string) bool {
	if name == UTCZone {
		return true
	}
	// A line of its own, not a prefix of another.
	i := strings.Index(timezonesTxt, "\n"+name+"\n")
	return i >= 0 && name != "" && !strings.ContainsAny(name, "\n#")
}

// Currencies returns the current ISO 4217 codes x/text knows, sorted, for UIs to offer.
func Currencies() []string {
	var out []string
	for it := currency.Query(); it.Next(); {
		out = append(out, it.Unit().String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}
