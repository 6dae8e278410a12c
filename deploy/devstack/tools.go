package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// devTools is what `make run` connects for the developer: a bootstrap account (created on the
// first run, kept in the state folder) whose IT Glue, ConnectWise PSA and Autotask PSA
// integrations point at the simulators, with the PSA simulators' webhooks delivered to the
// gateway.
type devTools struct {
	sims         *simulators.Set
	accountID    string
	adminKey     string
	integrations map[string]string // kind → integration id
}

// api is a small REST client of the dev gateway.
type api struct {
	base string
	hc   *http.Client
}

func (a api) call(ctx context.Context, method, path, token string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// connectTools makes sure the bootstrap account exists and is connected to the simulators.
// s is updated (and saved to path) when the account is created.
func connectTools(ctx context.Context, gatewayURL string, s *secrets, path string, sims *simulators.Set, companies int) (devTools, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a := api{base: gatewayURL, hc: &http.Client{Timeout: 30 * time.Second}}
	dev := devTools{sims: sims, integrations: map[string]string{}}
	if s.accountID != "" {
		// A kept account may be gone (another database): then a new one is made.
		if code, err := a.call(ctx, "GET", "/v1/accounts/"+s.accountID, s.operatorToken, nil, nil); err != nil && code != http.StatusNotFound {
			return dev, err
		} else if err != nil {
			s.accountID, s.adminKey = "", ""
		}
	}
	if s.accountID == "" {
		var created struct {
			Account struct {
				ID string `json:"id"`
			} `json:"account"`
			AdministratorAPIKey string `json:"administratorApiKey"`
		}
		_, err := a.call(ctx, "POST", "/v1/accounts", s.operatorToken, map[string]any{
			"account":       map[string]any{"displayName": "Northwind MSP (dev)"},
			"administrator": map[string]any{"firstName": "Dev", "lastName": "Admin", "email": "admin@northwind-msp.example"},
		}, &created)
		if err != nil {
			return dev, fmt.Errorf("bootstrap account: %w", err)
		}
		s.accountID, s.adminKey = created.Account.ID, created.AdministratorAPIKey
		if err := s.save(path); err != nil {
			return dev, err
		}
		if err := seedOrganizations(ctx, a, s, companies); err != nil {
			return dev, err
		}
	}
	dev.accountID, dev.adminKey = s.accountID, s.adminKey

	var list struct {
		Integrations []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"integrations"`
	}
	base := "/v1/accounts/" + s.accountID + "/integrations"
	if _, err := a.call(ctx, "GET", base, s.adminKey, nil, &list); err != nil {
		return dev, err
	}
	have := map[string]string{}
	for _, in := range list.Integrations {
		have[in.Kind] = in.ID
	}
	for _, want := range []struct {
		kind  string
		tool  simulators.Tool
		creds map[string]string
	}{
		{"itglue", sims.ITGlue, map[string]string{"apiKey": simulators.ITGlueAPIKey}},
		{"connectwise", sims.ConnectWise, map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
			"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
			"clientId": simulators.ConnectWiseClientID, "webhookSecret": simulators.WebhookSecret}},
		{"autotask", sims.Autotask, map[string]string{"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret,
			"integrationCode": simulators.AutotaskIntegrationCode, "webhookSecret": simulators.WebhookSecret}},
	} {
		body := map[string]any{"kind": want.kind, "endpoint": want.tool.URL, "credentials": want.creds}
		var got struct {
			ID string `json:"id"`
		}
		if id, ok := have[want.kind]; ok {
			// The simulators may listen elsewhere this run: point the integration at them.
			// The update mask is the body's fields (grpc-gateway derives it), kind excluded.
			delete(body, "kind")
			if _, err := a.call(ctx, "PATCH", base+"/"+id, s.adminKey, body, &got); err != nil {
				return dev, err
			}
		} else if _, err := a.call(ctx, "POST", base, s.adminKey, body, &got); err != nil {
			return dev, err
		}
		dev.integrations[want.kind] = got.ID
		if want.kind != "itglue" { // IT Glue has no signed webhooks
			want.tool.Sim.SetWebhook(gatewayURL+"/v1/webhooks/"+got.ID, simulators.WebhookSecret)
		}
	}
	return dev, nil
}

// toolsBanner tells where the simulators are and how to reach the bootstrap account.
func toolsBanner(w io.Writer, gatewayURL string, dev devTools) {
	var b strings.Builder
	fmt.Fprintf(&b, "Simulated tools (seeded; control API at <url>/_control/, see deploy/simulators/simkit/control.go):\n")
	for _, t := range dev.sims.Tools() {
		fmt.Fprintf(&b, "  %-12s %s\n", t.Name, t.URL)
	}
	fmt.Fprintf(&b, "\nBootstrap account %s, connected to IT Glue, ConnectWise PSA and Autotask PSA.\n", dev.accountID)
	fmt.Fprintf(&b, "Its administrator's API key (kept in the state folder's dev-credentials):\n  %s\n", dev.adminKey)
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' %s/v1/accounts/%s/integrations\n", dev.adminKey, gatewayURL, dev.accountID)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' '%s/v1/accounts/%s/integrations/%s/externalOrganizations?query=dental'\n",
		dev.adminKey, gatewayURL, dev.accountID, dev.integrations["connectwise"])
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/accounts/%s/orphans\n\n", dev.adminKey, gatewayURL, dev.accountID)
	_, _ = io.WriteString(w, b.String())
}

// save writes the dev credentials (0600; never outside the state folder).
func (s secrets) save(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ORGPLANE_OPERATOR_TOKEN=%s\nORGPLANE_IDENTITY_KEYS=%s\nORGPLANE_CREDENTIAL_KEYS=%s\n", s.operatorToken, s.identityKeys, s.credentialKeys)
	fmt.Fprintf(&b, "ORGPLANE_DEV_OIDC_CLIENT_SECRET=%s\nORGPLANE_DEV_OIDC_PASSWORD=%s\n", s.oidcClientSecret, s.oidcPassword)
	if s.accountID != "" {
		fmt.Fprintf(&b, "ORGPLANE_DEV_ACCOUNT_ID=%s\nORGPLANE_DEV_ADMIN_KEY=%s\n", s.accountID, s.adminKey)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// seedOrganizations gives a new bootstrap account an unlimited subscription and the simulators'
// clients under their plain names, so the Setup Organizations grid has twins to match: each tool
// spells them its own way (case, punctuation, legal suffixes).
func seedOrganizations(ctx context.Context, a api, s *secrets, n int) error {
	sub := "/v1/accounts/" + s.accountID + "/subscription?updateMask=unlimited"
	// Billing sets the subscription up when it hears of the account: try until it has.
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, err := a.call(ctx, "PATCH", sub, s.operatorToken, map[string]any{"unlimited": true}, nil)
		if err == nil {
			break
		}
		if code != http.StatusNotFound || time.Now().After(deadline) {
			return fmt.Errorf("bootstrap subscription: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	names := simkit.BaseNames(n, 42)
	orgs := make([]map[string]any, 0, len(names))
	for _, name := range names {
		orgs = append(orgs, map[string]any{"name": name})
	}
	if _, err := a.call(ctx, "POST", "/v1/accounts/"+s.accountID+"/organizations:bulkCreate", s.adminKey,
		map[string]any{"organizations": orgs}, nil); err != nil {
		return fmt.Errorf("bootstrap organizations: %w", err)
	}
	return nil
}
