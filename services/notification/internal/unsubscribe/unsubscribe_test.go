package unsubscribe_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/unsubscribe"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	old := unsubscribe.New(oldKey)
	rotated := unsubscribe.New(newKey, oldKey)
	c := unsubscribe.Claims{AccountID: uuid.NewString(), UserID: uuid.NewString(), Kind: domain.KindReviewAssigned,
		Issued: time.Unix(1_800_000_000, 0)}
	tok, err := old.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rotated.Open(tok)
	if err != nil || got != c {
		t.Fatalf("a token signed before a rotation: %+v, %v; want %+v", got, err, c)
	}
	if _, err := unsubscribe.New(newKey).Open(tok); err == nil {
		t.Fatal("a token signed with a key no longer in the ring was accepted")
	}

	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		if _, err := old.Open(base64.RawURLEncoding.EncodeToString(bad)); err == nil {
			t.Fatalf("a token with byte %d flipped was accepted", i)
		}
	}
	for _, bad := range []string{"", "x", tok + "A", tok[:len(tok)-1]} {
		if _, err := old.Open(bad); err == nil {
			t.Errorf("token %q was accepted", bad)
		}
	}
}
