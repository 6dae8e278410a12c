package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/platform"
)

// natsAuthDir holds the dev NATS keys (operator, account, tenant signing key) across runs, so
// the streams stored under the account and the tenant credentials already handed out survive a
// restart.
func natsAuthDir(natsDir string) string { return filepath.Join(natsDir, "auth") }

// natsCreds is where this run's credentials are written.
func natsCreds(natsDir string) string { return filepath.Join(natsDir, "creds") }

// mintNATSCredentials mints this run's credentials: one per service with exactly the rights it
// needs (platform.NATSPermissions), and an administrator's for a developer's or a test's own
// inspection. They are signed by a key made for this run, so the last run's no longer work.
func mintNATSCredentials(ctx context.Context, natsDir string, specs []platform.Spec) (*natsserver.Auth, map[string]string, string, error) {
	auth, err := natsserver.LoadAuth(natsAuthDir(natsDir))
	if err != nil {
		return nil, nil, "", err
	}
	creds := map[string]string{}
	for _, s := range specs {
		perms, err := platform.NATSPermissions(ctx, s)
		if err != nil {
			return nil, nil, "", err
		}
		path := filepath.Join(natsCreds(natsDir), s.Name+".creds")
		if err := auth.WriteCreds(path, "orgplane-"+s.Name, perms, time.Time{}); err != nil {
			return nil, nil, "", fmt.Errorf("nats credential of %s: %w", s.Name, err)
		}
		creds[s.Name] = path
	}
	admin := filepath.Join(natsCreds(natsDir), "admin.creds")
	if err := auth.WriteCreds(admin, "dev-admin", natsserver.Everything(), time.Time{}); err != nil {
		return nil, nil, "", err
	}
	return auth, creds, admin, nil
}

// TenantCredential mints account's read-only NATS credential (its own events, live, nothing
// else) with the keys of the dev stack whose NATS store is natsDir; `devstack nats-credential`
// prints it. expires, when not zero, ends it.
func TenantCredential(natsDir, account string, expires time.Time) ([]byte, error) {
	auth, err := natsserver.LoadAuth(natsAuthDir(natsDir))
	if err != nil {
		return nil, err
	}
	return auth.TenantCreds(account, expires)
}
