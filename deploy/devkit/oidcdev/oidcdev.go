// Package oidcdev runs a real OpenID Connect provider on this machine, for `make run` and tests of
// single sign-on: zitadel/oidc's provider (package op: discovery, JWKS, authorization and token
// endpoints, PKCE, ID tokens signed RS256) over a small in-memory store of clients and people, with
// a plain email-and-password sign-in page. Nothing is persisted: keys, sign-ins and codes last as
// long as the process. It serves plain HTTP, so it is for loopback and development only.
package oidcdev

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Client is a relying party registered at the provider. It authenticates at the token endpoint
// with its secret (client_secret_basic or client_secret_post).
type Client struct {
	ID, Secret   string
	RedirectURIs []string
}

// User is a person who can sign in. The subject of their tokens is derived from the email, so it
// stays the same across restarts.
type User struct {
	Email, Password       string
	GivenName, FamilyName string
	EmailVerified         bool
}

// Config configures a provider.
type Config struct {
	Addr    string // listen address; "" means 127.0.0.1:0
	Clients []Client
	Users   []User
}

// Provider is a running OpenID Connect provider.
type Provider struct {
	// Issuer is the provider's issuer URL, http://host:port, as in its discovery document.
	Issuer string

	origin    *url.URL
	srv       *http.Server
	served    chan struct{}
	mu        sync.Mutex // guards stopOnCtx, which ctx's ending may race to read
	stopOnCtx func() bool
	closeOnce sync.Once
	closeErr  error
}

// ErrSignInFailed is what Authorize returns when the sign-in page refused the email and password.
var ErrSignInFailed = errors.New("oidcdev: the sign-in page refused the email or password")

// Start listens on cfg.Addr and serves the provider until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Provider, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oidcdev: listen on %s: %w", addr, err)
	}
	p, err := newProvider(l, cfg)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(l) // ends with http.ErrServerClosed once Close runs
	}()
	p.mu.Lock()
	p.stopOnCtx = context.AfterFunc(ctx, func() { _ = p.Close() })
	p.mu.Unlock()
	return p, nil
}

func newProvider(l net.Listener, cfg Config) (*Provider, error) {
	host, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return nil, err
	}
	// A provider listening on every interface is still reached, and named, on loopback.
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	issuer := "http://" + net.JoinHostPort(host, port)
	store, err := newStorage(issuer, cfg)
	if err != nil {
		return nil, err
	}
	var cryptoKey [32]byte // encrypts the codes and access tokens the provider hands out
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, err
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:          cryptoKey,
		CodeMethodS256:     true,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
	}, store, op.StaticIssuer(issuer),
		// http is refused by default; this provider only ever serves development on loopback.
		op.WithAllowInsecure(),
	)
	if err != nil {
		return nil, fmt.Errorf("oidcdev: %w", err)
	}
	origin, _ := url.Parse(issuer)
	mux := http.NewServeMux()
	signIn := &signInPage{store: store, callback: op.AuthCallbackURL(provider)}
	issuerCtx := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.Handle("GET "+signInPath, issuerCtx.HandlerFunc(signIn.show))
	mux.Handle("POST "+signInPath, issuerCtx.HandlerFunc(signIn.submit))
	mux.Handle("/", provider)
	return &Provider{
		Issuer: issuer,
		origin: origin,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
		},
		served: make(chan struct{}),
	}, nil
}

// Close stops the provider, letting requests in flight finish for a few seconds.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		if p.stopOnCtx != nil {
			p.stopOnCtx()
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			p.closeErr = errors.Join(err, p.srv.Close())
		}
		<-p.served
	})
	return p.closeErr
}

// ownURL tells whether u is on this provider (same scheme and host as the issuer).
func (p *Provider) ownURL(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, p.origin.Scheme) && strings.EqualFold(u.Host, p.origin.Host)
}
