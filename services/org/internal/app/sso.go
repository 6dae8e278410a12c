package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/oidcrp"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Single sign-on through each account's OpenID Connect provider (authorization code flow with
// PKCE). The relying party (oidcrp) makes every call to a provider, outside any database
// transaction and with a timeout: a slow provider holds no connection or lock. No state,
// binding, nonce, verifier, code, token or client secret is logged or put in an error.

// WithSingleSignOn sets the web UI's address (the redirect URI registered at providers is
// webBase + domain.SSOCallbackPath) and starts the service's provider cache.
func (s *Service) WithSingleSignOn(webBase string) *Service {
	s.sso = oidcrp.New(domain.RedirectURI(webBase))
	return s
}

// errNoRelyingParty is a wiring fault: the service was built without WithSingleSignOn.
var errNoRelyingParty = errors.New("single sign-on: the service was built without WithSingleSignOn")

// ssoReady refuses single sign-on on a service that cannot keep its secrets.
func (s *Service) ssoReady() error {
	if s.sso == nil {
		return errNoRelyingParty
	}
	if s.secrets == nil {
		return domain.ErrNoSecrets
	}
	return nil
}

// clientSecretAAD and verifierAAD bind each sealed value to its row and field: copied to
// another account or flow, it does not open.
func clientSecretAAD(accountID string) []byte {
	return secrets.AAD("sso_providers", accountID, "client_secret")
}

func verifierAAD(accountID, flowID string) []byte {
	return secrets.AAD("sso_flows", accountID, flowID, "verifier")
}

// SingleSignOnProvider returns the account's provider, without its secret.
func (s *Service) SingleSignOnProvider(ctx context.Context, accountID string) (domain.SSOProvider, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaAccountSettings)); err != nil {
		return domain.SSOProvider{}, err
	}
	if s.sso == nil {
		return domain.SSOProvider{}, errNoRelyingParty
	}
	var out domain.SSOProvider
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		rec, err := tx.SSOProvider(ctx)
		out = rec.Provider
		return err
	})
	out.RedirectURI = s.sso.RedirectURI()
	return out, err
}

// UpdateSingleSignOnProvider sets up or changes the account's provider. The issuer must serve a
// usable discovery document (fetched fresh, outside the transaction). The default role of users
// created on first sign-in may grant no more than the caller holds, checked in the transaction
// that saves it, with the role held still until it commits.
func (s *Service) UpdateSingleSignOnProvider(ctx context.Context, accountID string, c domain.SSOProviderChange) (domain.SSOProvider, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings))
	if err != nil {
		return domain.SSOProvider{}, err
	}
	if err := s.ssoReady(); err != nil {
		return domain.SSOProvider{}, err
	}
	if err := c.Check(); err != nil {
		return domain.SSOProvider{}, err
	}
	if _, err := s.sso.Discover(ctx, c.Issuer, true); err != nil {
		return domain.SSOProvider{}, domain.ErrIssuerUnusable(err.Error())
	}
	var sealed []byte
	if c.ClientSecret != "" {
		if sealed, err = s.secrets.Seal([]byte(c.ClientSecret), clientSecretAAD(accountID)); err != nil {
			return domain.SSOProvider{}, err
		}
	}
	var out domain.SSOProvider
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if c.DefaultRoleID != "" {
			role, err := roleToGrant(ctx, tx, c.DefaultRoleID, "provider.default_role_id")
			if err != nil {
				return err
			}
			if err := grantOf(id).Covers(domain.SSOUserGrant(role.Levels)); err != nil {
				return err
			}
		}
		if err := tx.SaveSSOProvider(ctx, accountID, c, sealed, s.now()); err != nil {
			return err
		}
		rec, err := tx.SSOProvider(ctx)
		out = rec.Provider
		return err
	})
	out.RedirectURI = s.sso.RedirectURI()
	return out, err
}

// DeleteSingleSignOnProvider removes the account's provider, unless the account requires
// single sign-on.
func (s *Service) DeleteSingleSignOnProvider(ctx context.Context, accountID string) error {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings)); err != nil {
		return err
	}
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		required, err := tx.LockSingleSignOnRequirement(ctx)
		if err != nil {
			return err
		}
		if required {
			return domain.ErrSSORequired
		}
		ok, err := tx.DeleteSSOProvider(ctx)
		if err == nil && !ok {
			err = domain.ErrSSOProviderNotFound
		}
		return err
	})
}

// checkSingleSignOnRequirement refuses to start requiring single sign-on (next) of an account
// with no provider. The caller holds LockSingleSignOnRequirement, so the provider cannot go
// between this check and the commit.
func checkSingleSignOnRequirement(ctx context.Context, tx *store.Tx, cur, next domain.Settings) error {
	if !next.RequireSingleSignOn || cur.RequireSingleSignOn {
		return nil
	}
	ok, err := tx.HasSSOProvider(ctx)
	if err == nil && !ok {
		err = domain.ErrSSORequirementWithoutProvider
	}
	return err
}

// ssoAccountByEmail finds the one account with a provider where a user has email.
//
// What it reveals: to anyone who asks, whether an email is a user's in some account with single
// sign-on (a start URL, or the same "not set up" as an account without it), and that account's
// provider. That is the "home realm discovery" every single sign-on login page does, and it is
// acceptable here: the provider and client id are public to anyone shown the provider's login
// page, no session or data comes of it, and a password sign-in already must not, and does not,
// tell known emails from unknown ones (that is where guessing pays). An email in several such
// accounts is ambiguous and gets the same answer: the person names the account instead.
func (s *Service) ssoAccountByEmail(ctx context.Context, email string) (string, error) {
	users, err := s.store.UsersByEmail(ctx, domain.EmailDigest(email), "")
	if err != nil {
		return "", err
	}
	if len(users) > store.MaxEmailCandidates() {
		return "", domain.ErrSSONotSetUp
	}
	var found string
	for _, u := range users {
		if u.AccountID == found {
			continue
		}
		var has bool
		err := s.store.InTenant(ctx, u.AccountID, func(tx *store.Tx) error {
			var err error
			has, err = tx.HasSSOProvider(ctx)
			return err
		})
		if err != nil {
			return "", err
		}
		if !has {
			continue
		}
		if found != "" {
			return "", domain.ErrSSONotSetUp
		}
		found = u.AccountID
	}
	if found == "" {
		return "", domain.ErrSSONotSetUp
	}
	return found, nil
}

// StartSingleSignOn starts a sign-in through the provider of accountID (or of the one account
// email leads to): a fresh state, browser binding, nonce and PKCE verifier, kept only as
// digests (the verifier sealed) for domain.SSOFlowTTL, and the provider's authorization URL.
func (s *Service) StartSingleSignOn(ctx context.Context, accountID, email, returnPath string, c domain.Client) (domain.SSOStart, error) {
	if err := s.ssoReady(); err != nil {
		return domain.SSOStart{}, err
	}
	returnPath, err := domain.CheckReturnPath(returnPath)
	if err != nil {
		return domain.SSOStart{}, err
	}
	if accountID == "" {
		if accountID, err = s.ssoAccountByEmail(ctx, email); err != nil {
			return domain.SSOStart{}, err
		}
	}
	var rec store.SSOProviderRecord
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		rec, err = tx.SSOProvider(ctx)
		return err
	})
	if errors.Is(err, domain.ErrSSOProviderNotFound) {
		// The same as for an account that does not exist: no account is confirmed here.
		return domain.SSOStart{}, domain.ErrSSONotSetUp
	}
	if err != nil {
		return domain.SSOStart{}, err
	}
	p, err := s.sso.Discover(ctx, rec.Provider.Issuer, false)
	if err != nil {
		return domain.SSOStart{}, domain.ErrSSOProviderUnreachable.Wrap(err)
	}
	state, binding, nonce, verifier := domain.NewSSOSecret(), domain.NewSSOSecret(), domain.NewSSOSecret(), oidcrp.NewVerifier()
	flowID := uuid.NewString()
	sealed, err := s.secrets.Seal([]byte(verifier), verifierAAD(accountID, flowID))
	if err != nil {
		return domain.SSOStart{}, err
	}
	now := s.now()
	flow := domain.NewSSOFlow(flowID, accountID, binding, nonce, sealed, returnPath, now, c)
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.DeleteEndedSSOFlows(ctx, now); err != nil {
			return err
		}
		return tx.InsertSSOFlow(ctx, flow, domain.SSODigest(state))
	})
	if err != nil {
		return domain.SSOStart{}, err
	}
	authURL := p.AuthorizationURL(oidcrp.Authorization{ClientID: rec.Provider.ClientID, State: state, Nonce: nonce,
		Verifier: verifier, LoginHint: email})
	return domain.SSOStart{AuthorizationURL: authURL, Binding: binding, Expires: flow.Expires}, nil
}

// redeemFlow finds the flow state names and uses it up, whatever comes next, in a transaction
// of its own that commits before the answer: a state works once, even when the attempt fails.
// It returns the flow and the account's provider when the callback may go on (binding is the
// flow cookie's value), else the refusal.
func (s *Service) redeemFlow(ctx context.Context, state, binding string, now time.Time) (domain.SSOFlow, store.SSOProviderRecord, error) {
	accountID, flowID, ok, err := s.store.SSOFlowByState(ctx, domain.SSODigest(state))
	if err != nil {
		return domain.SSOFlow{}, store.SSOProviderRecord{}, err
	}
	if !ok {
		return domain.SSOFlow{}, store.SSOProviderRecord{}, domain.ErrSSOFlowInvalid
	}
	var flow domain.SSOFlow
	var rec store.SSOProviderRecord
	var verdict error
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		flow, rec, verdict = domain.SSOFlow{}, store.SSOProviderRecord{}, nil
		f, ok, err := tx.SSOFlowForUpdate(ctx, flowID)
		if err != nil {
			return err
		}
		if !ok {
			verdict = domain.ErrSSOFlowInvalid
			return nil
		}
		if err := tx.UseSSOFlow(ctx, f.ID, now); err != nil {
			return err
		}
		if verdict = f.Redeem(binding, now); verdict != nil {
			return nil
		}
		flow = f
		rec, err = tx.SSOProvider(ctx)
		if errors.Is(err, domain.ErrSSOProviderNotFound) {
			verdict, err = domain.ErrSSOFlowInvalid, nil
		}
		return err
	})
	if err == nil {
		err = verdict
	}
	return flow, rec, err
}

// CompleteSingleSignOn finishes a sign-in at the provider's redirect: the flow (found by state,
// used up by this attempt, bound to this browser), the code redeemed with the PKCE verifier, the
// ID token verified (signature, issuer, audience, expiry, nonce) with a verified email, the
// account's active user with that email (or a new one when the provider creates users), and a
// session of method single sign-on that counts as two-step: the provider did the sign-in, with
// whatever factors it requires.
func (s *Service) CompleteSingleSignOn(ctx context.Context, in domain.SSOCallback, c domain.Client) (domain.SSOSignIn, error) {
	if err := s.ssoReady(); err != nil {
		return domain.SSOSignIn{}, err
	}
	now := s.now()
	if in.Error != "" {
		// The provider refused; the flow it names is done with too.
		if in.State != "" {
			if _, _, err := s.redeemFlow(ctx, in.State, in.Binding, now); err != nil && apperr.KindOf(err) == apperr.KindInternal {
				return domain.SSOSignIn{}, err
			}
		}
		return domain.SSOSignIn{}, domain.ProviderRefusal(in.Error)
	}
	if in.State == "" {
		return domain.SSOSignIn{}, apperr.Invalid("state", "is required: the provider's redirect carries it")
	}
	if in.Code == "" {
		return domain.SSOSignIn{}, apperr.Invalid("code", "is required: the provider's redirect carries it")
	}
	flow, rec, err := s.redeemFlow(ctx, in.State, in.Binding, now)
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	accountID := flow.AccountID
	verifier, err := s.secrets.Open(flow.VerifierSealed, verifierAAD(accountID, flow.ID))
	if err != nil {
		return domain.SSOSignIn{}, fmt.Errorf("open the flow's verifier: %w", err)
	}
	var clientSecret []byte
	if len(rec.SecretSealed) > 0 {
		if clientSecret, err = s.secrets.Open(rec.SecretSealed, clientSecretAAD(accountID)); err != nil {
			return domain.SSOSignIn{}, fmt.Errorf("open the provider's client secret: %w", err)
		}
	}
	p, err := s.sso.Discover(ctx, rec.Provider.Issuer, false)
	if err != nil {
		return domain.SSOSignIn{}, domain.ErrSSOProviderUnreachable.Wrap(err)
	}
	claims, err := p.Redeem(ctx, oidcrp.Redemption{ClientID: rec.Provider.ClientID, ClientSecret: string(clientSecret),
		Code: in.Code, Verifier: string(verifier)})
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	if err := claims.Check(flow.NonceDigest); err != nil {
		return domain.SSOSignIn{}, err
	}
	// Creating a user is a change: an account made read-only by its subscription makes none.
	var refuseCreation error
	if rec.Provider.CreateUsers {
		writable, err := s.store.AccountWritable(ctx, accountID)
		if err != nil {
			return domain.SSOSignIn{}, err
		}
		if !writable {
			refuseCreation = domain.ErrSubscriptionInactive
		}
	}
	var out domain.SSOSignIn
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := s.ssoUser(ctx, tx, accountID, claims, refuseCreation)
		if err != nil {
			return err
		}
		req, err := tx.SignInRequirements(ctx)
		if err != nil {
			return err
		}
		cu, token, err := s.openSession(ctx, tx, accountID, u, req, domain.MethodSingleSignOn, true, c, now)
		out = domain.SSOSignIn{User: cu, SessionToken: token, ReturnPath: flow.ReturnPath}
		return err
	})
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	return out, nil
}

// ssoUser is the account's active user with the verified email of claims, or, when there is
// none and the provider (as it is now) creates users, a new one with its default role, made
// like any other (user.created is published); refuseCreation, when set, is why none may be.
func (s *Service) ssoUser(ctx context.Context, tx *store.Tx, accountID string, claims domain.SSOClaims, refuseCreation error) (domain.User, error) {
	u, ok, err := tx.UserByEmail(ctx, accountID, domain.EmailDigest(claims.Email))
	if err != nil {
		return domain.User{}, err
	}
	if ok {
		if !u.Active {
			return domain.User{}, domain.ErrSSOUnknownUser
		}
		return u, nil
	}
	rec, err := tx.SSOProvider(ctx)
	if err != nil {
		return domain.User{}, err
	}
	if !rec.Provider.CreateUsers {
		return domain.User{}, domain.ErrSSOUnknownUser
	}
	if refuseCreation != nil {
		return domain.User{}, refuseCreation
	}
	if rec.Provider.DefaultRoleID == "" {
		return domain.User{}, domain.ErrSSODefaultRoleGone
	}
	role, err := tx.RoleToGrant(ctx, rec.Provider.DefaultRoleID)
	if errors.Is(err, domain.ErrRoleNotFound) {
		return domain.User{}, domain.ErrSSODefaultRoleGone
	}
	if err != nil {
		return domain.User{}, err
	}
	return s.insertUser(ctx, tx, accountID, claims.NewSSOUser(role.ID), "user")
}
