package platform_test

import (
	"strings"
	"testing"

	"github.com/ardanlabs/conf/v3"

	"github.com/orgplane/orgplane/pkg/platform"
)

// The configuration a service logs at start never shows a NATS password, whether in its own
// variable or inside the URL.
func TestNATSSecretsAreMaskedInTheLoggedConfiguration(t *testing.T) {
	t.Setenv("ORGPLANE_DATABASE_URL", "postgres://svc:dbsecret@db/orgplane")
	t.Setenv("ORGPLANE_IDENTITY_KEYS", "k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=")
	t.Setenv("ORGPLANE_NATS_URL", "nats://org:urlsecret@nats.internal:4222")
	t.Setenv("ORGPLANE_NATS_USER", "org")
	t.Setenv("ORGPLANE_NATS_PASSWORD", "passwordsecret")
	t.Setenv("ORGPLANE_NATS_CREDS", "/var/run/secrets/nats/org.creds")
	cfg := platform.Config{}
	if _, err := conf.Parse(platform.EnvPrefix, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NatsPassword != "passwordsecret" || cfg.NatsCreds == "" {
		t.Fatalf("settings not read: %+v", cfg)
	}
	shown, err := conf.String(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"urlsecret", "passwordsecret", "dbsecret"} {
		if strings.Contains(shown, secret) {
			t.Errorf("logged configuration shows %q:\n%s", secret, shown)
		}
	}
	if !strings.Contains(shown, "org.creds") {
		t.Errorf("the creds file's path (not a secret) is not shown:\n%s", shown)
	}
}
