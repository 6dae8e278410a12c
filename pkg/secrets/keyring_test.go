package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/secrets"
)

func mustParse(t *testing.T, spec string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return kr
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, secrets.GenerateSpec("k1"))
	aad := secrets.AAD("acc-1", "int-1", "privateKey")
	plain := []byte("s3cr3t-private-key")

	a, err := kr.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := kr.Seal(plain, aad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: nonce not random")
	}
	if bytes.Contains(a, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	if got := secrets.KeyID(a); got != "k1" {
		t.Fatalf("KeyID = %q, want k1", got)
	}
	got, err := kr.Open(a, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldSpec := secrets.GenerateSpec("2025")
	old := mustParse(t, oldSpec)
	aad := secrets.AAD("acc", "int", "apiKey")
	sealedOld, _ := old.Seal([]byte("key-under-old"), aad)

	rotated := mustParse(t, oldSpec+","+secrets.GenerateSpec("2026"))
	if rotated.Newest() != "2026" {
		t.Fatalf("Newest = %q, want the last entry 2026", rotated.Newest())
	}
	if !rotated.NeedsReseal(sealedOld) {
		t.Fatal("a value under the old key does not need resealing")
	}
	got, err := rotated.Open(sealedOld, aad)
	if err != nil || string(got) != "key-under-old" {
		t.Fatalf("old value after rotation: %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal([]byte("fresh"), aad)
	if id := rotated.KeyID(sealedNew); id != "2026" {
		t.Fatalf("new seal under %q, want 2026", id)
	}
	resealed, err := rotated.Reseal(sealedOld, aad)
	if err != nil || secrets.KeyID(resealed) != "2026" {
		t.Fatalf("Reseal: key %q, %v", secrets.KeyID(resealed), err)
	}
	// The old keyring cannot open what the new key sealed, and says why.
	if _, err := old.Open(sealedNew, aad); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("old keyring opening a new value: %v, want ErrUnknownKey", err)
	}
}

func TestTamperAndAADMismatch(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, secrets.GenerateSpec("a")+","+secrets.GenerateSpec("b"))
	aad := secrets.AAD("acc-1", "int-1", "secret")
	sealed, _ := kr.Seal([]byte("value"), aad)

	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	cases := map[string]struct {
		sealed []byte
		aad    []byte
		want   error
	}{
		"other row":              {sealed, secrets.AAD("acc-2", "int-1", "secret"), secrets.ErrDecrypt},
		"other field":            {sealed, secrets.AAD("acc-1", "int-1", "userName"), secrets.ErrDecrypt},
		"parts shifted":          {sealed, secrets.AAD("acc-1i", "nt-1", "secret"), secrets.ErrDecrypt},
		"no aad":                 {sealed, nil, secrets.ErrDecrypt},
		"last byte (tag)":        {flip(len(sealed) - 1), aad, secrets.ErrDecrypt},
		"ciphertext byte":        {flip(len(sealed) - 20), aad, secrets.ErrDecrypt},
		"key id renamed to a":    {append([]byte{1, 1, 'a'}, sealed[3:]...), aad, secrets.ErrDecrypt},
		"truncated":              {sealed[:10], aad, secrets.ErrMalformed},
		"empty":                  {nil, aad, secrets.ErrMalformed},
		"unknown format version": {flip(0), aad, secrets.ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := kr.Open(c.sealed, c.aad); !errors.Is(err, c.want) {
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good := secrets.GenerateSpec("good")
	short := "k:" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	cases := map[string]struct {
		spec string
		want string // a fragment the error must contain
	}{
		"empty":          {"", "is empty"},
		"no separator":   {good + ",QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTI=", "entry 2"},
		"bad base64":     {"k:not*base64!", "entry 1"},
		"wrong length":   {good + "," + short, "16 bytes, want 32"},
		"duplicate id":   {good + "," + secrets.GenerateSpec("good"), "used twice"},
		"bad id":         {"bad id:" + strings.SplitN(good, ":", 2)[1], "key id must be"},
		"empty id":       {":" + strings.SplitN(good, ":", 2)[1], "entry 1"},
		"trailing comma": {good + ",", "entry 2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := secrets.ParseKeyring(c.spec)
			if err == nil {
				t.Fatal("ParseKeyring accepted a bad spec")
			}
			msg := err.Error()
			if !strings.Contains(msg, secrets.EnvKeys) || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q: want it to name %s and say %q", msg, secrets.EnvKeys, c.want)
			}
			// No part of any key may appear in the message.
			for _, entry := range strings.Split(c.spec, ",") {
				if _, key, ok := strings.Cut(entry, ":"); ok && len(key) >= 8 && strings.Contains(msg, key) {
					t.Fatalf("error %q echoes key material", msg)
				}
				if len(entry) >= 16 && !strings.Contains(entry, ":") && strings.Contains(msg, entry) {
					t.Fatalf("error %q echoes an entry", msg)
				}
			}
		})
	}
}

func TestNeverPrintsKeyMaterial(t *testing.T) {
	t.Parallel()
	spec := secrets.GenerateSpec("old") + "," + secrets.GenerateSpec("new")
	kr := mustParse(t, spec)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "keyring", kr)
	outputs := []string{
		fmt.Sprint(kr), fmt.Sprintf("%+v", kr), fmt.Sprintf("%#v", kr), fmt.Sprintf("%x", kr),
		fmt.Sprintf("%v", *kr), logged.String(),
	}
	for _, entry := range strings.Split(spec, ",") {
		_, b64, _ := strings.Cut(entry, ":")
		raw, _ := base64.StdEncoding.DecodeString(b64)
		for _, out := range outputs {
			if strings.Contains(out, b64) || strings.Contains(out, fmt.Sprintf("%x", raw)) || strings.Contains(out, string(raw)) {
				t.Fatalf("output %q contains key material", out)
			}
		}
	}
	if !strings.Contains(outputs[0], "new") || !strings.Contains(logged.String(), "newest=new") {
		t.Fatalf("outputs do not name the keys: %q / %q", outputs[0], logged.String())
	}
}
