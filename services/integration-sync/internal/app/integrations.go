package app

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"github.com/orgplane/orgplane/services/integration-sync/internal/transport"
)

// IntegrationInput is what a caller sets on an integration.
type IntegrationInput struct {
	Kind        string
	DisplayName string
	Settings    map[string]string
	Credentials map[string]string
	Endpoint    string
	Budget      domain.BudgetPolicy
}

// IntegrationView is an integration with its budget as it stands.
type IntegrationView struct {
	domain.Integration
	Policy connector.Budget
	Usage  budget.Usage
}

// CreateIntegration connects a tool.
func (s *Service) CreateIntegration(ctx context.Context, accountID string, in IntegrationInput) (IntegrationView, error) {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return IntegrationView{}, err
	}
	k, err := s.kind(in.Kind)
	if err != nil {
		return IntegrationView{}, err
	}
	if err := domain.CheckFields(k, in.Settings, in.Credentials, nil, true); err != nil {
		return IntegrationView{}, err
	}
	now := s.clock()
	integ := domain.Integration{ID: uuid.NewString(), AccountID: accountID, Kind: k.Name, DisplayName: strings.TrimSpace(in.DisplayName),
		Settings: nonNil(in.Settings), Endpoint: in.Endpoint, State: domain.StateUntested, Budget: in.Budget,
		CreatedBy: id.Actor(), Created: now, Updated: now}
	if integ.DisplayName == "" {
		integ.DisplayName = k.Title
	}
	sealed, err := s.sealCredentials(accountID, integ.ID, in.Credentials, now)
	if err != nil {
		return IntegrationView{}, err
	}
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.InsertIntegration(ctx, integ, now); err != nil {
			return err
		}
		for _, c := range sealed {
			if err := tx.PutCredential(ctx, accountID, integ.ID, c); err != nil {
				return err
			}
		}
		return tx.Enqueue(ctx, &integrationsyncv1.IntegrationCreated{AccountId: accountID, IntegrationId: integ.ID,
			Kind: integ.Kind, CreatedBy: integ.CreatedBy}, now)
	})
	if err != nil {
		return IntegrationView{}, err
	}
	return s.view(ctx, accountID, integ.ID)
}

// GetIntegration returns an integration with its budget.
func (s *Service) GetIntegration(ctx context.Context, accountID, integrationID string) (IntegrationView, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return IntegrationView{}, err
	}
	return s.view(ctx, accountID, integrationID)
}

func (s *Service) view(ctx context.Context, accountID, integrationID string) (IntegrationView, error) {
	var v IntegrationView
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		v.Integration, err = tx.Integration(ctx, integrationID, false)
		return err
	})
	if err != nil {
		return IntegrationView{}, err
	}
	return s.withBudget(ctx, v.Integration)
}

func (s *Service) withBudget(ctx context.Context, in domain.Integration) (IntegrationView, error) {
	v := IntegrationView{Integration: in}
	if k, ok := s.kinds[in.Kind]; ok {
		v.Policy = policy(k, in.Budget)
	}
	u, err := s.budgets.Usage(ctx, in.ID)
	if err != nil && !errors.Is(err, store.ErrNoBudget) { // nothing spent yet
		return IntegrationView{}, err
	}
	v.Usage = u
	if u.Limit == 0 { // never spent from: nothing configured yet
		v.Usage.Limit, v.Usage.Remaining, v.Usage.Window = v.Policy.Requests, v.Policy.Requests, v.Policy.Window
	}
	return v, nil
}

// ListIntegrations pages the account's integrations by kind then creation, and returns the
// token of the next page ("" on the last).
func (s *Service) ListIntegrations(ctx context.Context, accountID string, size int32, token string) ([]IntegrationView, string, error) {
	// The token is checked first, as on every list: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[integrationPosition](ctx, s.pages, "integrations", size, token, accountID)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return nil, "", err
	}
	list, next, err := s.integrationPage(ctx, accountID, page)
	if err != nil {
		return nil, "", err
	}
	out := make([]IntegrationView, 0, len(list))
	for _, in := range list {
		v, err := s.withBudget(ctx, in)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

type integrationPosition struct {
	Kind string    `json:"k"`
	At   time.Time `json:"t"`
	ID   string    `json:"i"`
}

// integrationPage reads one page of the account's integrations, by kind then creation.
func (s *Service) integrationPage(ctx context.Context, accountID string, page pagetoken.Page[integrationPosition]) ([]domain.Integration, string, error) {
	p := store.IntegrationPage{Limit: page.Size + 1}
	if page.Continues {
		p.AfterKind, p.AfterAt, p.AfterID = page.After.Kind, page.After.At, page.After.ID
	}
	var list []domain.Integration
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		list, err = tx.Integrations(ctx, p)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, list, func(in domain.Integration) integrationPosition {
		return integrationPosition{Kind: in.Kind, At: in.Created, ID: in.ID}
	})
}

// UpdateIntegration changes the fields named in paths (REST spelling: displayName, settings,
// credentials, credentials.<name>, endpoint, budgetPolicy). Credentials named are replaced; a
// change of credentials or endpoint makes the integration untested and lifts a stop.
func (s *Service) UpdateIntegration(ctx context.Context, accountID, integrationID string, in IntegrationInput, paths []string) (IntegrationView, error) {
	if _, err := s.writer(ctx, accountID); err != nil {
		return IntegrationView{}, err
	}
	if len(paths) == 0 {
		return IntegrationView{}, apperr.Invalid("updateMask", "names no field to update")
	}
	now := s.clock()
	reconnect := false
	var previous domain.IntegrationState
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		// A reconnect lifts the schedule's pause: the schedule is locked before the integration,
		// in the scheduler's order (store.Tx.LockSchedule).
		if err := tx.LockSchedule(ctx, integrationID); err != nil {
			return err
		}
		integ, err := tx.Integration(ctx, integrationID, true)
		if err != nil {
			return err
		}
		k, err := s.kind(integ.Kind)
		if err != nil {
			return err
		}
		previous = integ.State
		settings := maps.Clone(integ.Settings)
		creds := map[string]string{}
		replaceAll := false
		reconnect = false
		for _, p := range paths {
			switch {
			case p == "displayName":
				integ.DisplayName = strings.TrimSpace(in.DisplayName)
				if integ.DisplayName == "" {
					integ.DisplayName = k.Title
				}
			case p == "settings":
				settings = nonNil(in.Settings)
				reconnect = true
			case strings.HasPrefix(p, "settings."):
				name := strings.TrimPrefix(p, "settings.")
				if v, ok := in.Settings[name]; ok && v != "" {
					settings[name] = v
				} else {
					delete(settings, name)
				}
				reconnect = true
			case p == "credentials":
				replaceAll, creds = true, nonNil(in.Credentials)
				reconnect = true
			case strings.HasPrefix(p, "credentials."):
				name := strings.TrimPrefix(p, "credentials.")
				creds[name] = in.Credentials[name]
				reconnect = true
			case p == "endpoint":
				integ.Endpoint = in.Endpoint
				reconnect = true
			case p == "budgetPolicy":
				integ.Budget = in.Budget
			case p == "kind":
				return apperr.Invalid("kind", "cannot change: create another integration instead")
			default:
				return apperr.Invalidf("updateMask", "%q is not a field that can be updated", p)
			}
		}
		have := make([]string, 0, len(integ.Credentials))
		for _, c := range integ.Credentials {
			if replaceAll {
				break
			}
			have = append(have, c.Name)
		}
		set := map[string]string{}
		var drop []string
		for name, v := range creds {
			if v == "" && !replaceAll {
				drop = append(drop, name)
				continue
			}
			set[name] = v
		}
		kept := slices.DeleteFunc(slices.Clone(have), func(n string) bool { return slices.Contains(drop, n) })
		if err := domain.CheckFields(k, settings, set, kept, true); err != nil {
			return err
		}
		integ.Settings, integ.Updated = settings, now
		if reconnect {
			integ.State, integ.StateMessage = domain.StateUntested, ""
		}
		if err := tx.UpdateIntegration(ctx, integ); err != nil {
			return err
		}
		sealed, err := s.sealCredentials(accountID, integrationID, set, now)
		if err != nil {
			return err
		}
		for _, c := range sealed {
			if err := tx.PutCredential(ctx, accountID, integrationID, c); err != nil {
				return err
			}
		}
		if replaceAll || len(drop) > 0 {
			keep := slices.Collect(maps.Keys(set))
			keep = append(keep, kept...)
			if err := tx.DeleteCredentials(ctx, integrationID, keep); err != nil {
				return err
			}
		}
		if reconnect {
			if err := tx.SetPaused(ctx, integrationID, false); err != nil {
				return err
			}
			if previous != domain.StateUntested {
				return tx.Enqueue(ctx, &integrationsyncv1.IntegrationStateChanged{AccountId: accountID, IntegrationId: integrationID,
					Kind: integ.Kind, PreviousState: integrationsyncv1.IntegrationState(previous),
					State: integrationsyncv1.IntegrationState_INTEGRATION_STATE_UNTESTED}, now)
			}
		}
		return nil
	})
	if err != nil {
		return IntegrationView{}, err
	}
	if reconnect {
		// New credentials get a fresh start: the stop after repeated refusals is lifted.
		if err := s.budgets.AuthSucceeded(ctx, integrationID); err != nil {
			return IntegrationView{}, err
		}
	}
	return s.view(ctx, accountID, integrationID)
}

// DeleteIntegration disconnects a tool; a running refresh of it stops at its next checkpoint.
func (s *Service) DeleteIntegration(ctx context.Context, accountID, integrationID string) error {
	id, err := s.writer(ctx, accountID)
	if err != nil {
		return err
	}
	return s.removeIntegration(ctx, accountID, integrationID, id.Actor())
}

// TestResult is what a connection test found.
type TestResult struct {
	OK      bool
	Message string
	View    IntegrationView
}

// TestIntegration calls the tool with the stored credentials and records what it said.
func (s *Service) TestIntegration(ctx context.Context, accountID, integrationID string) (TestResult, error) {
	if _, err := s.writer(ctx, accountID); err != nil {
		return TestResult{}, err
	}
	t, err := s.readTarget(ctx, accountID, integrationID)
	if err != nil {
		return TestResult{}, err
	}
	// A test is the user's explicit retry: it may call a tool the transport had stopped.
	if err := s.budgets.AuthSucceeded(ctx, integrationID); err != nil {
		return TestResult{}, err
	}
	var res TestResult
	c, _, err := s.connect(ctx, t)
	switch {
	case apperr.KindOf(err) == apperr.KindFailedPrecondition: // incomplete settings: the test's answer
	case err != nil:
		return TestResult{}, err // a credential that does not open is this service's fault, not the tool's
	default:
		err = c.Verify(ctx)
	}
	switch {
	case err == nil:
		res.OK = true
		err = s.recordState(ctx, t.integration, domain.StateConnected, "")
	case errors.Is(err, connector.ErrUnauthorized), errors.Is(err, transport.ErrStopped):
		res.Message = vendorMessage(err)
		err = s.recordState(ctx, t.integration, domain.StateCredentialsRejected, res.Message)
	case apperr.KindOf(err) == apperr.KindFailedPrecondition, errors.Is(err, connector.ErrUnavailable),
		errors.Is(err, connector.ErrRejected), errors.Is(err, connector.ErrNotFound):
		res.Message = vendorMessage(err)
		err = nil
	case ctx.Err() == nil:
		// Unreachable (DNS, refused, TLS): the test failed, the integration's state stays.
		res.Message = "the tool could not be reached: " + err.Error()
		err = nil
	}
	if err != nil {
		return TestResult{}, err
	}
	res.View, err = s.view(ctx, accountID, integrationID)
	return res, err
}

// recordState records the integration's state; a rejected one stops its scheduled refreshes.
func (s *Service) recordState(ctx context.Context, integ domain.Integration, st domain.IntegrationState, msg string) error {
	now := s.clock()
	return s.store.InTenant(ctx, integ.AccountID, func(tx *store.Tx) error {
		// A new state pauses or resumes the schedule: the schedule is locked before the
		// integration, in the scheduler's order (store.Tx.LockSchedule).
		if err := tx.LockSchedule(ctx, integ.ID); err != nil {
			return err
		}
		cur, err := tx.Integration(ctx, integ.ID, true)
		if err != nil {
			return err
		}
		if cur.State == st && cur.StateMessage == msg {
			return nil
		}
		if err := tx.SetIntegrationState(ctx, integ.ID, st, msg, now); err != nil {
			return err
		}
		if err := tx.SetPaused(ctx, integ.ID, st == domain.StateCredentialsRejected); err != nil {
			return err
		}
		if cur.State == st {
			return nil
		}
		return tx.Enqueue(ctx, &integrationsyncv1.IntegrationStateChanged{AccountId: integ.AccountID, IntegrationId: integ.ID,
			Kind: cur.Kind, PreviousState: integrationsyncv1.IntegrationState(cur.State),
			State: integrationsyncv1.IntegrationState(st), Message: msg}, now)
	})
}

// vendorMessage is the tool's own words in err, never a credential (connectors keep them out).
func vendorMessage(err error) string {
	var ve *connector.VendorError
	if errors.As(err, &ve) {
		if ve.Message != "" {
			return ve.Message
		}
		return ve.Error()
	}
	return err.Error()
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// IntegrationSummaries pages an account's integrations for another service (the rule admits
// services only; the mapping grid shows them as its columns), by kind then creation.
func (s *Service) IntegrationSummaries(ctx context.Context, accountID string, size int32, token string) ([]domain.Integration, string, error) {
	page, err := pagetoken.Open[integrationPosition](ctx, s.pages, "integration summaries", size, token, accountID)
	if err != nil {
		return nil, "", err
	}
	return s.integrationPage(ctx, accountID, page)
}

// ListKinds pages the kinds this service can connect, by name. The list is fixed, but its
// tokens are sealed and bound like any other list's, so that clients page every list alike.
func (s *Service) ListKinds(ctx context.Context, accountID string, size int32, token string) ([]connector.Kind, string, error) {
	page, err := pagetoken.Open[string](ctx, s.pages, "integration kinds", size, token, accountID)
	if err != nil {
		return nil, "", err
	}
	var list []connector.Kind
	for _, name := range s.kinds.Names() { // sorted by name
		if (!page.Continues || name > page.After) && len(list) <= page.Size {
			list = append(list, s.kinds[name])
		}
	}
	return pagetoken.Next(page, list, func(k connector.Kind) string { return k.Name })
}
