package pagetoken_test

import (
	"errors"
	"testing"

	"github.com/orgplane/orgplane/pkg/pagetoken"
)

type pos struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

func TestTokensRoundTripAndRefuseTampering(t *testing.T) {
	s := pagetoken.New([]byte("0123456789abcdef0123456789abcdef"))
	tok, err := s.Seal("organizations", pos{"Contoso", "42"})
	if err != nil {
		t.Fatal(err)
	}
	var got pos
	if err := s.Open("organizations", tok, &got); err != nil || got != (pos{"Contoso", "42"}) {
		t.Fatalf("open = %v %v", got, err)
	}
	flipped := []byte(tok)
	flipped[3] ^= 1
	other := pagetoken.New([]byte("another key, another key, anothe"))
	for name, c := range map[string]func() error{
		"tampered":      func() error { return s.Open("organizations", string(flipped), &got) },
		"other purpose": func() error { return s.Open("users", tok, &got) },
		"other key":     func() error { return other.Open("organizations", tok, &got) },
		"garbage":       func() error { return s.Open("organizations", "!!!", &got) },
		"short":         func() error { return s.Open("organizations", "YWJj", &got) },
	} {
		if err := c(); !errors.Is(err, pagetoken.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
