// Package text is the one validator for text people type: every string field of every request
// passes through Clean before any rule or store sees it (pkg/rpc runs it on each request).
//
// Postgres refuses NUL in text, control characters corrupt logs, CSV exports and terminals, and
// bidirectional overrides make a name display as something other than what it is ("Trojan
// Source"). Normalizing to NFC makes "é" typed two ways one name, so uniqueness and search see
// what people see.
package text

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Problem is why a string was refused; Error says it in the words a client reads after the
// field name.
type Problem struct {
	// Reason is a stable machine-readable code (google.rpc.BadRequest reason).
	Reason string
	// Offset is the character (not byte) position of the offending character, 0-based.
	Offset int
	// Rune is the offending character; utf8.RuneError for invalid UTF-8.
	Rune rune
}

func (p *Problem) Error() string {
	switch p.Reason {
	case ReasonInvalidUTF8:
		return "is not valid UTF-8 text"
	case ReasonBidi:
		return fmt.Sprintf("contains the bidirectional control U+%04X at character %d", p.Rune, p.Offset+1)
	default:
		return fmt.Sprintf("contains the control character U+%04X at character %d", p.Rune, p.Offset+1)
	}
}

// Reasons a string is refused.
const (
	ReasonInvalidUTF8 = "TEXT_INVALID_UTF8"
	ReasonControl     = "TEXT_CONTROL_CHARACTER"
	ReasonBidi        = "TEXT_BIDI_CONTROL"
)

// Clean checks s and returns it trimmed and in NFC. multiline admits newline and tab (notes,
// descriptions); a single-line field admits neither. A carriage return is never admitted: a
// multi-line field stores "\n" line ends only, so the same note does not compare different.
func Clean(s string, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", &Problem{Reason: ReasonInvalidUTF8, Offset: invalidAt(s), Rune: utf8.RuneError}
	}
	i := 0
	for _, r := range s {
		if reason := refused(r, multiline); reason != "" {
			return "", &Problem{Reason: reason, Offset: i, Rune: r}
		}
		i++
	}
	// Trim after the checks: a refused character is refused wherever it stands. Only the
	// space class is trimmed; it never contains a character refused above except \t and \n,
	// which a multi-line field admits.
	return strings.TrimSpace(norm.NFC.String(s)), nil
}

// Len is the length of s in characters (code points), the unit every documented limit uses.
func Len(s string) int { return utf8.RuneCountInString(s) }

func refused(r rune, multiline bool) string {
	switch {
	case r == '\n' || r == '\t':
		if multiline {
			return ""
		}
		return ReasonControl
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		// C0, DEL and C1 (U+0085 NEL, U+009B CSI act as line breaks and escapes).
		return ReasonControl
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		// Embeddings, overrides and isolates: display order that differs from stored order.
		return ReasonBidi
	}
	return ""
}

func invalidAt(s string) int {
	i := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		s = s[size:]
		i++
	}
	return i
}
