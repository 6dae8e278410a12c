// Package stack runs the whole Orgplane suite in one process: an embedded NATS JetStream server,
// every service on its own gRPC port (as they run apart in Kubernetes) and the REST gateway. It
// is what `make run` starts and what whole-suite tests drive.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sync/errgroup"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
	"github.com/orgplane/orgplane/services/gateway/suite"
	"github.com/orgplane/orgplane/services/notification/notificationsvc"
)

// Specs lists every service in the suite; clock, when set, is the time they read.
func Specs(clock func() time.Time) []platform.Spec { return suite.Specs(suite.Options{Clock: clock}) }

// Options configure a stack.
type Options struct {
	Log *slog.Logger
	// DatabaseURL is a login that may create schemas and roles (the dev stack's own superuser).
	DatabaseURL string
	// NATSDir holds the embedded JetStream store.
	NATSDir string
	// NATSPort is the embedded server's port; 0 picks one.
	NATSPort int
	// Host is the interface every listener binds; "127.0.0.1" keeps the dev stack private.
	Host string
	// GatewayPort and ServicePorts (by service name) pick ports; 0 or absent picks a free one.
	GatewayPort  int
	ServicePorts map[string]int
	// AdminPort serves /metrics for the whole process; -1 disables it.
	AdminPort int
	Metrics   http.Handler

	Keys          *identity.Keyring
	OperatorToken string
	// Clock, when set, is the time the services read (tests age data with it).
	Clock func() time.Time
	// CredentialKeys encrypt integration credentials (ORGPLANE_CREDENTIAL_KEYS's format); empty
	// generates a keyring for this run only.
	CredentialKeys string
	// RateLimit is the gateway's per-credential limit; zero means 100 per second, bursts of 200.
	RateLimit gatewaysvc.RateLimit
	// CORSOrigins are the browser origins the gateway allows.
	CORSOrigins []string
	// ServiceTLS, when set, makes every service serve gRPC over TLS; ClientTLS is then how the
	// gateway and the services calling peers reach them. Both zero: plaintext on loopback.
	ServiceTLS rpc.ServerTLS
	ClientTLS  rpc.ClientTLS
	// SMTPAddr, when set, is the SMTP server (host:port, plaintext, no login) the notification
	// service sends through, a developer's own Mailpit for example; when empty the stack runs a
	// mail sink (Stack.Mail) on Host at MailSinkPort (0 picks a free port).
	SMTPAddr     string
	MailSinkPort int
	// WebBaseURL is where the links in emails lead (reviews, unsubscribe pages); empty: the
	// gateway, which serves the unsubscribe pages.
	WebBaseURL string

	// OIDCPort is the port of the local OpenID Connect provider (Stack.OIDC) on Host; 0 picks a
	// free one, -1 runs none. Its client OIDCClientID is registered with the redirect URI
	// WebBaseURL + SingleSignOnCallbackPath and the secret OIDCClientSecret (empty: random for
	// this run). OIDCUsers are the people who can sign in there; OIDCClients are registered
	// besides (a test's other relying party).
	OIDCPort         int
	OIDCClientSecret string
	OIDCUsers        []oidcdev.User
	OIDCClients      []oidcdev.Client
}

// OIDCClientID is the client the stack registers Orgplane under at its OpenID Connect provider.
const OIDCClientID = "orgplane-dev"

// SingleSignOnCallbackPath is where an identity provider sends the browser back to (the gateway's
// CompleteSingleSignOn route), under the web base URL.
const SingleSignOnCallbackPath = "/v1/singleSignOn/callback"

// Stack is a running suite.
type Stack struct {
	GatewayURL   string
	NATSURL      string
	AdminURL     string
	ServiceAddrs map[string]string
	// NATSAdminCreds is a creds file allowed everything on NATS, for a developer's or a test's
	// own inspection; NATSCreds are each service's own, by name; NATSAuth mints more, and
	// TenantCredential(NATSDir, ...) mints a tenant's the way `devstack nats-credential` does.
	NATSDir        string
	NATSAdminCreds string
	NATSCreds      map[string]string
	NATSAuth       *natsserver.Auth
	// NATSServer is the embedded broker; a test stops it for an outage and starts another with
	// natsserver.Start on the same port, NATSDir and NATSAuth.
	NATSServer *server.Server
	// Mail is the sink every email goes to (nil when Options.SMTPAddr sends elsewhere); SMTPAddr
	// is where the notification service sends.
	Mail     *mailsink.Sink
	SMTPAddr string
	// OIDC is the local OpenID Connect provider (nil when Options.OIDCPort is -1), where
	// OIDCClientID with OIDCClientSecret is registered for single sign-on through the gateway.
	OIDC             *oidcdev.Provider
	OIDCClientID     string
	OIDCClientSecret string

	wait func() error
}

// Wait blocks until the stack has stopped (its context ended) and reports the first failure.
func (s *Stack) Wait() error { return s.wait() }

// Start migrates every schema, then starts NATS, the services and the gateway. It returns once
// everything listens; cancel ctx to stop it all, then call Wait.
func Start(ctx context.Context, o Options) (*Stack, error) {
	log := o.Log
	if o.CredentialKeys == "" {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		o.CredentialKeys = "run:" + base64.StdEncoding.EncodeToString(key)
	}
	// What is composed here does not change a service's schema or NATS rights: the specs are
	// made again once the addresses their options name are known.
	specs := suite.Specs(suite.Options{Clock: o.Clock, CredentialKeys: o.CredentialKeys})
	for _, s := range specs {
		if err := platform.Migrate(ctx, s, o.DatabaseURL, log.With("service", s.Name)); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", s.Name, err)
		}
	}
	auth, creds, admin, err := mintNATSCredentials(ctx, o.NATSDir, specs)
	if err != nil {
		return nil, err
	}
	ns, err := natsserver.Start(natsserver.Options{Dir: o.NATSDir, Port: o.NATSPort, Auth: auth})
	if err != nil {
		return nil, err
	}
	st := &Stack{NATSURL: ns.ClientURL(), ServiceAddrs: map[string]string{}, NATSDir: o.NATSDir, NATSAdminCreds: admin, NATSCreds: creds,
		NATSAuth: auth, NATSServer: ns}

	// Every listener is opened before anything serves, so a port clash fails Start cleanly.
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			_ = l.Close()
		}
		if st.Mail != nil {
			st.Mail.Stop()
		}
		if st.OIDC != nil {
			_ = st.OIDC.Close()
		}
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	listen := func(port int) (net.Listener, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(port)))
		if err == nil {
			listeners = append(listeners, l)
		}
		return l, err
	}
	grpcLis := map[string]net.Listener{}
	for _, s := range specs {
		l, err := listen(o.ServicePorts[s.Name])
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		grpcLis[s.Name] = l
		st.ServiceAddrs[s.Name] = l.Addr().String()
	}
	gwLis, err := listen(o.GatewayPort)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	st.GatewayURL = "http://" + gwLis.Addr().String()
	var adminLis net.Listener
	if o.AdminPort >= 0 {
		if adminLis, err = listen(o.AdminPort); err != nil {
			closeAll()
			return nil, fmt.Errorf("admin: %w", err)
		}
		st.AdminURL = "http://" + adminLis.Addr().String()
	}
	st.SMTPAddr = o.SMTPAddr
	if st.SMTPAddr == "" {
		if st.Mail, err = mailsink.Start(net.JoinHostPort(o.Host, fmt.Sprint(o.MailSinkPort))); err != nil {
			closeAll()
			return nil, fmt.Errorf("the SMTP sink (make run: -smtp-port moves it): %w", err)
		}
		st.SMTPAddr = st.Mail.Addr()
	}
	if o.WebBaseURL == "" {
		o.WebBaseURL = st.GatewayURL
	}
	if o.OIDCPort >= 0 {
		if err := st.startOIDC(ctx, o); err != nil {
			closeAll()
			return nil, err
		}
	}
	specs = suite.Specs(suite.Options{Clock: o.Clock, CredentialKeys: o.CredentialKeys, WebBaseURL: o.WebBaseURL,
		Mail: notificationsvc.MailOptions{Addr: st.SMTPAddr, TLS: "none"}})

	if o.RateLimit == (gatewaysvc.RateLimit{}) {
		o.RateLimit = gatewaysvc.RateLimit{PerSecond: 100, Burst: 200}
	}
	gw, err := gatewaysvc.New(ctx, gatewaysvc.Config{
		Log: log.With("service", "gateway"), Keys: o.Keys, OperatorToken: o.OperatorToken, Metrics: o.Metrics,
		RateLimit: o.RateLimit, CORSOrigins: o.CORSOrigins, Upstreams: gatewaysvc.UpstreamsOf(specs, st.ServiceAddrs),
		UpstreamTLS: o.ClientTLS,
		// The stack's gateway serves plain HTTP (GatewayURL), where browsers refuse a Secure
		// cookie; the banner says so.
		InsecureCookies: true,
	})
	if err != nil {
		closeAll()
		return nil, err
	}

	// Shutdown runs from the edge inwards: when ctx ends the gateway stops accepting and drains
	// its in-flight requests while every service still answers them; only then do the services
	// stop (each: gRPC, then its relay and consumers, then NATS and its pool), then the
	// embedded NATS server, and the caller stops Postgres last. Stopping all at once let late
	// requests reach services already gone and see their internal addresses. A failure of any
	// part still stops everything at once (gctx).
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	edgeCtx, stopEdge := context.WithCancel(gctx)
	stopOnCancel := context.AfterFunc(ctx, stopEdge)
	svcCtx, stopServices := context.WithCancel(gctx)
	ready := make([]chan struct{}, 0, len(specs))
	for _, s := range specs {
		r := make(chan struct{})
		ready = append(ready, r)
		opts := platform.Options{
			Log: log, Keys: o.Keys, DB: s.DBConfig(o.DatabaseURL), NATS: events.NATSConfig{URL: st.NATSURL, CredsFile: creds[s.Name]},
			GRPC: grpcLis[s.Name], Ready: r, Peers: st.ServiceAddrs,
		}
		opts.TLS, opts.PeerTLS = o.ServiceTLS, o.ClientTLS
		g.Go(func() error { return platform.Serve(svcCtx, s, opts) })
	}
	// The production gateway's limits, with a per-client cap loose enough for loopback, where
	// every client of the machine (and a test's request storm) shares one address.
	limits := platform.GatewayHTTPLimits()
	limits.MaxConnsPerClient = 1024
	g.Go(func() error {
		defer stopServices()
		return platform.ServeHTTPWith(edgeCtx, gwLis, gw, limits)
	})
	if adminLis != nil {
		g.Go(func() error { return platform.ServeHTTP(svcCtx, adminLis, platform.AdminMux(o.Metrics)) })
	}
	st.wait = func() error {
		err := g.Wait()
		stopOnCancel()
		stopEdge()
		stopServices()
		gw.Close()
		if st.Mail != nil {
			st.Mail.Stop()
		}
		if st.OIDC != nil {
			_ = st.OIDC.Close()
		}
		ns.Shutdown()
		ns.WaitForShutdown()
		return err
	}
	for _, r := range ready {
		select {
		case <-r:
		case <-gctx.Done():
			return nil, fmt.Errorf("stack did not start: %w", st.wait())
		case <-ctx.Done():
			return nil, fmt.Errorf("stack did not start: %w", errors.Join(ctx.Err(), st.wait()))
		}
	}
	return st, nil
}

// startOIDC starts the local OpenID Connect provider with Orgplane's client and o's people.
func (st *Stack) startOIDC(ctx context.Context, o Options) error {
	st.OIDCClientID, st.OIDCClientSecret = OIDCClientID, o.OIDCClientSecret
	if st.OIDCClientSecret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		st.OIDCClientSecret = base64.RawURLEncoding.EncodeToString(b)
	}
	clients := append([]oidcdev.Client{{ID: st.OIDCClientID, Secret: st.OIDCClientSecret,
		RedirectURIs: []string{strings.TrimSuffix(o.WebBaseURL, "/") + SingleSignOnCallbackPath}}}, o.OIDCClients...)
	// Stopped by Wait, after the services, like the other parts.
	p, err := oidcdev.Start(context.WithoutCancel(ctx), oidcdev.Config{
		Addr: net.JoinHostPort(o.Host, fmt.Sprint(o.OIDCPort)), Clients: clients, Users: o.OIDCUsers,
	})
	if err != nil {
		return fmt.Errorf("the OpenID Connect provider (make run: -oidc-port moves it, -1 turns it off): %w", err)
	}
	st.OIDC = p
	return nil
}
