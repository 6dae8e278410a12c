package natsserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/orgplane/orgplane/pkg/events"
)

// AccountName is the NATS account that holds Orgplane's streams and users.
const AccountName = "ORGPLANE"

// Auth is a server's decentralized (JWT) authorization, the way production NATS runs it with
// nsc: an operator, one account holding every Orgplane stream, and that account's signing keys,
// which mint users. A user is a creds file (its JWT, listing its permissions, and its NKey
// seed); the server needs to know nothing of a user beforehand, so a credential can be minted
// while the server runs.
//
// Two signing keys: one made fresh with every Auth, for the services' and the administrator's
// credentials, so a run's credentials die with it (the next run's account no longer lists the
// key); and a kept, scoped one for tenants, which can mint nothing but a read-only credential
// for one account (its template fixes the permissions), so that minting tenant credentials
// never needs a key that could mint a service.
type Auth struct {
	runSigner, tenantSigner nkeys.KeyPair
	operatorClaims          *jwt.OperatorClaims
	operatorJWT             string // what a node in its own process is given to trust the operator
	accountPub, accountJWT  string
	sysPub, sysJWT          string
}

// TenantRole is the scoped signing key's role; its template reads the account from the user's
// "account:<id>" tag.
const TenantRole = "tenant"

// TenantTemplate is the subscribe permission every tenant user gets from the scoped key.
const TenantTemplate = "orgplane.*.v1.{{tag(account)}}.>"

// NewAuth makes a fresh operator, account and signing keys (tests: one per server).
func NewAuth() (*Auth, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	tenant, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	return newAuth(op, acc, tenant, sys)
}

// LoadAuth reads the keys kept in dir, creating them the first time. The dev stack keeps them
// across runs so that the account's streams (stored under its key) and the tenant credentials
// `devstack nats-credential` minted stay valid; the services' own credentials are signed by a
// key made anew on every run.
func LoadAuth(dir string) (*Auth, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	load := func(name string, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, error) {
		path := filepath.Join(dir, name+".nk")
		if b, err := os.ReadFile(path); err == nil {
			return nkeys.FromSeed(bytes.TrimSpace(b))
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		kp, err := create()
		if err != nil {
			return nil, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		return kp, os.WriteFile(path, append(seed, '\n'), 0o600)
	}
	op, err := load("operator", nkeys.CreateOperator)
	if err != nil {
		return nil, fmt.Errorf("nats operator key: %w", err)
	}
	acc, err := load("account", nkeys.CreateAccount)
	if err != nil {
		return nil, fmt.Errorf("nats account key: %w", err)
	}
	tenant, err := load("tenant-signing", nkeys.CreateAccount)
	if err != nil {
		return nil, fmt.Errorf("nats tenant signing key: %w", err)
	}
	sys, err := load("system-account", nkeys.CreateAccount)
	if err != nil {
		return nil, fmt.Errorf("nats system account key: %w", err)
	}
	return newAuth(op, acc, tenant, sys)
}

func newAuth(op, acc, tenant, sys nkeys.KeyPair) (*Auth, error) {
	run, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	a := &Auth{runSigner: run, tenantSigner: tenant}
	opPub, err := op.PublicKey()
	if err != nil {
		return nil, err
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "orgplane-dev"
	if a.operatorJWT, err = oc.Encode(op); err != nil {
		return nil, err
	}
	if a.operatorClaims, err = jwt.DecodeOperatorClaims(a.operatorJWT); err != nil {
		return nil, err
	}
	if a.accountPub, err = acc.PublicKey(); err != nil {
		return nil, err
	}
	runPub, err := run.PublicKey()
	if err != nil {
		return nil, err
	}
	tenantPub, err := tenant.PublicKey()
	if err != nil {
		return nil, err
	}
	ac := jwt.NewAccountClaims(a.accountPub)
	ac.Name = AccountName
	ac.SigningKeys.Add(runPub)
	scope := jwt.NewUserScope()
	scope.Key = tenantPub
	scope.Role = TenantRole
	scope.Description = "read-only credentials for one account's events"
	scope.Template.Sub.Allow.Add(TenantTemplate)
	scope.Template.Pub.Deny.Add(">")
	ac.SigningKeys.AddScopedSigner(scope)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{
		MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit, Streams: jwt.NoLimit, Consumer: jwt.NoLimit,
		MaxAckPending: jwt.NoLimit, MemoryMaxStreamBytes: jwt.NoLimit, DiskMaxStreamBytes: jwt.NoLimit,
	}
	if a.accountJWT, err = ac.Encode(op); err != nil {
		return nil, err
	}
	// The system account holds the server's own traffic; nobody is given a user in it.
	if a.sysPub, err = sys.PublicKey(); err != nil {
		return nil, err
	}
	sc := jwt.NewAccountClaims(a.sysPub)
	sc.Name = "SYS"
	if a.sysJWT, err = sc.Encode(op); err != nil {
		return nil, err
	}
	return a, nil
}

// AccountPublicKey is the ORGPLANE account's public key (A...).
func (a *Auth) AccountPublicKey() string { return a.accountPub }

// Creds mints a user named name with permissions p, as a .creds file's content. expires, when
// not zero, ends it. An empty Publish or Subscribe list becomes a deny of everything, never
// NATS's "no list, no limit".
func (a *Auth) Creds(name string, p events.Permissions, expires time.Time) ([]byte, error) {
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, err := user.PublicKey()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	uc.IssuerAccount = a.accountPub
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	if len(p.Publish) == 0 {
		uc.Permissions.Pub.Deny.Add(">")
	} else {
		uc.Permissions.Pub.Allow.Add(p.Publish...)
	}
	if len(p.Subscribe) == 0 {
		uc.Permissions.Sub.Deny.Add(">")
	} else {
		uc.Permissions.Sub.Allow.Add(p.Subscribe...)
	}
	return a.sign(uc, user, a.runSigner)
}

// TenantCreds mints account's read-only credential: it receives every producer's events of that
// account, live (events.TenantSubject), and may publish nothing. It is signed by the scoped
// tenant key, whose template, not the user JWT, sets the permissions.
func (a *Auth) TenantCreds(account string, expires time.Time) ([]byte, error) {
	// Also keeps the tag lowercase, as JWT tags are.
	if _, err := events.TenantPermissions(account); err != nil {
		return nil, err
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, err := user.PublicKey()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(pub)
	uc.Name = "tenant-" + account
	uc.IssuerAccount = a.accountPub
	uc.Tags.Add("account:" + account)
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	// A scoped key's users carry no permissions of their own (the server refuses them otherwise).
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	return a.sign(uc, user, a.tenantSigner)
}

func (a *Auth) sign(uc *jwt.UserClaims, user, signer nkeys.KeyPair) ([]byte, error) {
	token, err := uc.Encode(signer)
	if err != nil {
		return nil, err
	}
	seed, err := user.Seed()
	if err != nil {
		return nil, err
	}
	return jwt.FormatUserConfig(token, seed)
}

// WriteCreds mints a user like Creds into path, readable by its owner only.
func (a *Auth) WriteCreds(path, name string, p events.Permissions, expires time.Time) error {
	b, err := a.Creds(name, p, expires)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Everything is an administrator's permissions: every subject, every JetStream API. Only tests
// and a developer inspecting the dev stack use it.
func Everything() events.Permissions {
	return events.Permissions{Publish: []string{">"}, Subscribe: []string{">"}}
}
