package text_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/orgplane/orgplane/pkg/text"
)

func TestClean(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in  string
		multiline bool
		want      string
		reason    string
	}{
		{"plain", "Contoso", false, "Contoso", ""},
		{"trimmed", "  Contoso \u00a0", false, "Contoso", ""},
		{"NFC", "Cafe\u0301", false, "Caf\u00e9", ""},
		{"NUL", "Con\x00toso", false, "", text.ReasonControl},
		{"bell", "Con\u0007toso", false, "", text.ReasonControl},
		{"escape", "Con\u001btoso", false, "", text.ReasonControl},
		{"DEL", "Con\u007ftoso", false, "", text.ReasonControl},
		{"C1 NEL", "Con\u0085toso", false, "", text.ReasonControl},
		{"C1 CSI", "Con\u009btoso", false, "", text.ReasonControl},
		{"RLO", "Con\u202etoso", false, "", text.ReasonBidi},
		{"LRE", "\u202aContoso", false, "", text.ReasonBidi},
		{"isolate", "Contoso\u2066", false, "", text.ReasonBidi},
		{"PDI", "Contoso\u2069", false, "", text.ReasonBidi},
		{"newline single-line", "Con\ntoso", false, "", text.ReasonControl},
		{"tab single-line", "Con\ttoso", false, "", text.ReasonControl},
		{"newline in notes", "line one\nline two\tend", true, "line one\nline two\tend", ""},
		{"CR in notes", "line one\r\nline two", true, "", text.ReasonControl},
		{"NUL in notes", "note\x00", true, "", text.ReasonControl},
		{"invalid UTF-8", "Con\xfftoso", false, "", text.ReasonInvalidUTF8},
		{"surrogate bytes", "\xed\xa0\x80", false, "", text.ReasonInvalidUTF8},
		{"emoji and CJK", "東京 🚀", false, "東京 🚀", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := text.Clean(c.in, c.multiline)
			var p *text.Problem
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("Clean(%q) = %v", c.in, err)
			case c.reason == "" && got != c.want:
				t.Fatalf("Clean(%q) = %q, want %q", c.in, got, c.want)
			case c.reason != "" && (!errors.As(err, &p) || p.Reason != c.reason):
				t.Fatalf("Clean(%q) = %q, %v; want %s", c.in, got, err, c.reason)
			}
		})
	}
}

func TestProblemNamesTheCharacter(t *testing.T) {
	t.Parallel()
	_, err := text.Clean("ab\u202ec", false)
	if err == nil || err.Error() != "contains the bidirectional control U+202E at character 3" {
		t.Fatalf("error = %v", err)
	}
}

func TestLenCountsCharacters(t *testing.T) {
	t.Parallel()
	if n := text.Len("Café 東京"); n != 7 {
		t.Fatalf("Len = %d", n)
	}
}

// FuzzClean holds the validator's promise: whatever it accepts is valid UTF-8 in NFC, trimmed,
// free of every refused character, and cleaning it again changes nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "Contoso", " a\u0301 ", "\x00", "\u0085", "\u009b[31m", "\u202e", "\u2066x\u2069",
		"a\nb\tc", "\r\n", "\xff\xfe", "\xed\xa0\x80", "\u00a0\u3000x\u2028", "ﬁ", "\u1e9b\u0323"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		got, err := text.Clean(s, multiline)
		if err != nil {
			var p *text.Problem
			if !errors.As(err, &p) || p.Reason == "" || strings.Contains(err.Error(), "%!") {
				t.Fatalf("Clean(%q): unexplained error %v", s, err)
			}
			return
		}
		if !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) {
			t.Fatalf("Clean(%q) = %q: not valid NFC", s, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("Clean(%q) = %q: not trimmed", s, got)
		}
		for _, r := range got {
			if (unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t'))) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("Clean(%q) = %q: kept U+%04X", s, got, r)
			}
		}
		again, err := text.Clean(got, multiline)
		if err != nil || again != got {
			t.Fatalf("Clean is not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
