package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
)

// Sign-in (issue 18): reads through the gateway with a session cookie (org's
// AuthenticateSession on every request) beside the same reads with API keys of the same role
// (AuthenticateApiKey), and the rate of successful sign-ins beside the bare argon2id comparison
// every sign-in makes; then single sign-on with the same users (sso.go).

const (
	// signInUsers is how many people sign in: each read client uses one of their sessions, so
	// no single session row is the hot spot, and each sign-in client signs in as its own user.
	signInUsers = 8
	// signInClients is the sign-in concurrency, for the system and the hash alike. Each
	// comparison holds 19 MiB; more clients than this only queue for the same cores.
	signInClients = signInUsers
	// sessionReadTarget is the share of the API-key read throughput session reads must keep.
	sessionReadTarget = 0.90
	// signInTarget is the share of the bare hash rate sign-in must keep: the hash is most of
	// its work, the rest a few short transactions (throttle check, user, session row).
	signInTarget = 0.75
	// signInMailWait bounds the wait for the invitation emails.
	signInMailWait = time.Minute
	// signInCookie is the dev stack's session cookie (plain HTTP: no __Host- prefix).
	signInCookie = "orgplane_session"
	// signInPassword is every bench user's password (long, not a common one).
	signInPassword = "Bench-argon2id-sign-in-1959"
)

// benchPasswordParams are org's password parameters (OWASP's argon2id minimum), for the
// baseline's hash.
var benchPasswordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

var invitationLink = regexp.MustCompile(`/invitations/accept\?token=([A-Za-z0-9_%.~-]+)`)

// signInUser is a bench user with a password, an open session and an API key of its role that
// acts as it.
type signInUser struct {
	id, email, session, key string
}

func (e *env) signInScenario(ctx context.Context) ([]Row, error) {
	sink := e.st.Mail
	if sink == nil {
		return nil, errors.New("the stack runs no mail sink, and invitations arrive there")
	}
	a, err := e.newAccount(ctx, "Bench sign-in")
	if err != nil {
		return nil, err
	}
	defer a.conn.Close()
	acct := "/v1/accounts/" + a.id
	var role struct {
		ID string `json:"id"`
	}
	if err := e.rest(ctx, "POST", acct+"/roles", a.key,
		`{"name":"Bench sign-in readers","permissions":{"organizations":"PERMISSION_LEVEL_READ_ONLY"}}`, &role); err != nil {
		return nil, err
	}
	for i := range 50 {
		if err := e.rest(ctx, "POST", acct+"/organizations", a.key, fmt.Sprintf(`{"name":"Sign-in client %02d"}`, i), nil); err != nil {
			return nil, err
		}
	}
	users, err := e.signInUsers(ctx, a, sink, role.ID)
	if err != nil {
		return nil, err
	}

	list := acct + "/organizations?pageSize=10"
	// Both credentials must see the same full page, or the comparison is of different work.
	for _, with := range [][2]string{{"Cookie", signInCookie + "=" + users[0].session}, {"Authorization", "Bearer " + users[0].key}} {
		var page struct {
			Organizations []json.RawMessage `json:"organizations"`
		}
		if err := e.call(ctx, "GET", list, "", with[0], with[1], func(_ *http.Response, b []byte) error { return json.Unmarshal(b, &page) }); err != nil {
			return nil, err
		}
		if len(page.Organizations) != 10 {
			return nil, fmt.Errorf("GET %s with %s: %d organizations, want 10", list, with[0], len(page.Organizations))
		}
	}
	reads := func(with func(u signInUser) (string, string)) func(int) Result {
		return func(int) Result {
			return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, _ int) error {
				name, value := with(users[w%len(users)])
				return e.call(ctx, "GET", list, "", name, value, nil)
			})
		}
	}
	readSys, readBase := e.alternate(
		reads(func(u signInUser) (string, string) { return "Cookie", signInCookie + "=" + u.session }),
		reads(func(u signInUser) (string, string) { return "Authorization", "Bearer " + u.key }))
	readRow := throughputRow(fmt.Sprintf("session reads: list page of 10, %d sessions, %d clients", len(users), e.cfg.clients),
		"GET .../organizations?pageSize=10 with a session cookie (AuthenticateSession, session marked used)",
		"the same GET with an API key of the same role acting as the same user (AuthenticateApiKey)", readSys, readBase, sessionReadTarget)

	// The stored hash a successful sign-in compares against, made as org makes it.
	hash, err := argon2id.CreateHash(signInPassword, benchPasswordParams)
	if err != nil {
		return nil, err
	}
	var firstErr error
	var mu sync.Mutex
	signInSys, signInBase := e.alternate(func(int) Result {
		return run(ctx, signInClients, e.cfg.duration, 0, func(ctx context.Context, w, _ int) error {
			_, err := e.signIn(ctx, users[w%len(users)].email)
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
			return err
		})
	}, func(int) Result {
		return run(ctx, signInClients, e.cfg.duration, 0, func(context.Context, int, int) error {
			ok, err := argon2id.ComparePasswordAndHash(signInPassword, hash)
			if err == nil && !ok {
				err = errors.New("the password does not match its own hash")
			}
			return err
		})
	})
	var runErr error
	if firstErr != nil {
		runErr = fmt.Errorf("sign-in: %d failed, the first: %w", signInSys.Errors, firstErr)
	}
	signInRow := throughputRow(fmt.Sprintf("sign-in rate: POST /v1/signIn, %d users, %d clients", len(users), signInClients),
		"POST /v1/signIn through the gateway, every one a success (throttle check, argon2id m=19456 KiB t=2 p=1, session row, cookie)",
		"argon2id.ComparePasswordAndHash with the same parameters, same concurrency (the floor)", signInSys, signInBase, signInTarget)
	ssoRows, err := e.singleSignOnRows(ctx, a, users)
	return append([]Row{readRow, signInRow}, ssoRows...), errors.Join(runErr, err)
}

// signInEmail is the email of the scenario's user i, here and at the OpenID Connect provider.
func signInEmail(i int) string { return fmt.Sprintf("signin-%02d@%s", i, benchMailDomain) }

// signInUsers creates signInUsers users of role, invites them, takes each invitation's token
// from the email in the sink, accepts it with a password (the API's only way to set a first
// one), signs each in once and gives each an API key of role acting as it.
func (e *env) signInUsers(ctx context.Context, a account, sink *mailsink.Sink, roleID string) ([]signInUser, error) {
	acct := "/v1/accounts/" + a.id
	before := len(sink.Messages())
	users := make([]signInUser, signInUsers)
	for i := range users {
		u := &users[i]
		u.email = signInEmail(i)
		var created struct {
			ID string `json:"id"`
		}
		if err := e.rest(ctx, "POST", acct+"/users", a.key, fmt.Sprintf(
			`{"firstName":"Bench","lastName":"Person %02d","email":%q,"roleId":%q,"allOrganizations":true}`, i, u.email, roleID), &created); err != nil {
			return nil, err
		}
		u.id = created.ID
		if err := e.rest(ctx, "POST", acct+"/users/"+u.id+":invite", a.key, "{}", nil); err != nil {
			return nil, err
		}
	}
	tokens := map[string]string{}
	err := waitFor(ctx, signInMailWait, "the invitation emails", func() (bool, string, error) {
		for _, m := range sink.Messages()[before:] {
			found := invitationLink.FindStringSubmatch(m.Text)
			if found == nil {
				continue
			}
			for _, to := range m.To {
				tok, err := url.QueryUnescape(found[1])
				if err != nil {
					return false, "", err
				}
				tokens[strings.ToLower(to)] = tok
			}
		}
		n := 0
		for _, u := range users {
			if tokens[u.email] != "" {
				n++
			}
		}
		return n == len(users), fmt.Sprintf("%d of %d received", n, len(users)), nil
	})
	if err != nil {
		return nil, err
	}
	for i := range users {
		u := &users[i]
		body, _ := json.Marshal(map[string]string{"token": tokens[u.email], "password": signInPassword})
		if err := e.call(ctx, "POST", "/v1/invitations:accept", string(body), "", "", nil); err != nil {
			return nil, fmt.Errorf("accepting the invitation of %s: %w", u.email, err)
		}
		var err error
		if u.session, err = e.signIn(ctx, u.email); err != nil {
			return nil, err
		}
		var key struct {
			Secret string `json:"secret"`
		}
		if err := e.rest(ctx, "POST", acct+"/apiKeys", a.key, fmt.Sprintf(`{"name":"Bench sign-in %02d","roleId":%q,"userId":%q}`, i, roleID, u.id), &key); err != nil {
			return nil, err
		}
		u.key = key.Secret
	}
	return users, nil
}

// signIn signs in as email with the bench password and returns the session cookie's value.
func (e *env) signIn(ctx context.Context, email string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": signInPassword})
	var token string
	err := e.call(ctx, "POST", "/v1/signIn", string(body), "", "", func(resp *http.Response, _ []byte) error {
		for _, c := range resp.Cookies() {
			if c.Name == signInCookie {
				token = c.Value
			}
		}
		return nil
	})
	if err == nil && token == "" {
		err = fmt.Errorf("signing in as %s: no %s cookie", email, signInCookie)
	}
	return token, err
}

// call is e.rest for a caller without an API key: one header of its own (a cookie, or none),
// and seen, when set, is shown the 200's response.
func (e *env) call(ctx context.Context, method, path, body, header, value string, seen func(*http.Response, []byte) error) error {
	req, err := http.NewRequestWithContext(ctx, method, e.st.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if seen != nil {
		return seen(resp, b)
	}
	return nil
}
