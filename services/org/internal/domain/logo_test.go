package domain_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestLogoETagIsAStrongValidatorOfTheBytes(t *testing.T) {
	t.Parallel()
	data := []byte("\x89PNG fake")
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name string
		l    domain.Logo
		want string
	}{
		{"stored digest", domain.Logo{Data: data, SHA256: "abc"}, `"abc"`},
		{"computed when missing", domain.Logo{Data: data}, `"` + digest + `"`},
	} {
		if got := tc.l.ETag(); got != tc.want {
			t.Errorf("%s: ETag = %s, want %s", tc.name, got, tc.want)
		}
	}
	if (domain.Logo{Data: []byte("a")}).ETag() == (domain.Logo{Data: []byte("b")}).ETag() {
		t.Error("different bytes, same ETag")
	}
}

func TestLogoInfo(t *testing.T) {
	t.Parallel()
	l := domain.Logo{ContentType: "image/png", Data: make([]byte, 1234), Width: 260, Height: 80, SHA256: "d"}
	want := domain.LogoInfo{ContentType: "image/png", SizeBytes: 1234, Width: 260, Height: 80, SHA256: "d"}
	if got := l.Info(); got != want {
		t.Errorf("Info = %+v, want %+v", got, want)
	}
}
