package pagetoken_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/pkg/pagetoken"
)

func TestPagesWalkAListAndRefuseForeignTokens(t *testing.T) {
	t.Parallel()
	s := pagetoken.New([]byte("0123456789abcdef0123456789abcdef"))
	items := []string{"a", "b", "c", "d", "e"}
	read := func(p pagetoken.Page[string]) []string { // the store's "after, limit size+1"
		var out []string
		for _, it := range items {
			if (!p.Continues || it > p.After) && len(out) < p.Size+1 {
				out = append(out, it)
			}
		}
		return out
	}
	var seen []string
	token := ""
	for range 10 {
		p, err := pagetoken.Open[string](s, "letters", 2, token, "filter=x")
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		page, token, err = pagetoken.Next(p, read(p), func(s string) string { return s })
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if token == "" {
			break
		}
		if _, err := pagetoken.Open[string](s, "letters", 2, token, "filter=y"); !errors.Is(err, pagetoken.ErrBadToken) {
			t.Errorf("a token used with other filters: %v, want ErrBadToken", err)
		}
		if _, err := pagetoken.Open[string](s, "numbers", 2, token, "filter=x"); !errors.Is(err, pagetoken.ErrBadToken) {
			t.Errorf("a token used on another list: %v, want ErrBadToken", err)
		}
	}
	if !slices.Equal(seen, items) {
		t.Fatalf("walked %v, want %v", seen, items)
	}
	if p, _ := pagetoken.Open[string](s, "letters", 0, "", ""); p.Size != pagetoken.DefaultPageSize {
		t.Errorf("size 0 gives %d, want the default", p.Size)
	}
	if p, _ := pagetoken.Open[string](s, "letters", 5000, "", ""); p.Size != pagetoken.MaxPageSize {
		t.Errorf("size 5000 gives %d, want the cap", p.Size)
	}
}
