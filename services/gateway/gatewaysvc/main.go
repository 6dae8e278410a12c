package gatewaysvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/ardanlabs/conf/v3"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// EnvConfig is the gateway process's configuration, from ORGPLANE_* variables or --flags.
type EnvConfig struct {
	conf.Version
	HTTPAddr          string   `conf:"env:HTTP_ADDR,default::8080,help:REST listen address"`
	Upstreams         []string `conf:"env:UPSTREAMS,help:service gRPC addresses as name=address separated by semicolons; an address is host:port or replicas as host:port separated by commas or a target such as dns:///headless-service:port (calls spread round robin); default each at 127.0.0.1 on its usual port"`
	OperatorToken     string   `conf:"env:OPERATOR_TOKEN,required,mask,help:the platform operator's bearer credential of at least 32 characters"`
	IdentityKeys      string   `conf:"env:IDENTITY_KEYS,required,mask,help:identity token keys as kid:base64key separated by commas; the first signs and all verify"`
	RateLimit         float64  `conf:"env:RATE_LIMIT,default:100,help:requests per second allowed per API key (sustained); 0 disables"`
	RateBurst         int      `conf:"env:RATE_BURST,default:200,help:requests an API key may send at once"`
	CORSOrigins       []string `conf:"env:CORS_ORIGINS,help:exact browser origins (scheme://host[:port]) allowed to call the API separated by semicolons; none when empty; * and wildcards are refused"`
	MaxConnsPerClient int      `conf:"env:MAX_CONNS_PER_CLIENT,default:64,help:open connections one client address may hold (a load balancer in TRUSTED_PROXIES is not capped); 0 disables"`
	TrustedProxy      []string `conf:"env:TRUSTED_PROXIES,flag:trusted-proxies,help:CIDRs of the load balancers in front of the gateway separated by semicolons; their X-Forwarded-For names the client whose failed authentications are throttled"`
	TLSCAFile         string   `conf:"env:TLS_CA_FILE,flag:tls-ca-file,help:PEM CAs that sign the services' gRPC certificates; setting it (or the client certificate) calls them over TLS"`
	TLSCertFile       string   `conf:"env:TLS_CLIENT_CERT_FILE,flag:tls-client-cert-file,help:PEM certificate presented to services that require mutual TLS; re-read when the file changes"`
	TLSKeyFile        string   `conf:"env:TLS_CLIENT_KEY_FILE,flag:tls-client-key-file,help:PEM private key of TLS_CLIENT_CERT_FILE"`
	TLSServerName     string   `conf:"env:TLS_SERVER_NAME,help:name every service's certificate must carry instead of the host of its address"`
	InsecureCookies   bool     `conf:"env:INSECURE_COOKIES,default:false,help:send the session cookie without Secure (named orgplane_session instead of __Host-orgplane_session) for a gateway served over plain HTTP on loopback; never where browsers reach it over a network"`
	LogLevel          string   `conf:"env:LOG_LEVEL,default:info,help:debug or info or warn or error"`
}

// Main is the gateway binary's main: it fronts the services of specs. It returns the exit code.
func Main(ctx context.Context, specs []platform.Spec, stdout io.Writer) int {
	cfg := EnvConfig{Version: conf.Version{Desc: "Orgplane REST gateway"}}
	log, code, done := platform.LoadConfig("gateway", &cfg.LogLevel, stdout, &cfg)
	if done {
		return code
	}
	log = log.With("service", "gateway")
	if err := run(ctx, cfg, specs, log); err != nil {
		log.Error("exiting", "error", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cfg EnvConfig, specs []platform.Spec, log *slog.Logger) error {
	shown, err := conf.String(&cfg)
	if err != nil {
		return err
	}
	log.Info("configuration", "config", shown)
	keys, err := identity.ParseKeyring(cfg.IdentityKeys)
	if err != nil {
		return fmt.Errorf("ORGPLANE_IDENTITY_KEYS: %w", err)
	}
	addrs := map[string]string{}
	for _, e := range cfg.Upstreams {
		name, addr, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok || name == "" || addr == "" {
			return fmt.Errorf("ORGPLANE_UPSTREAMS: %q is not name=host:port", e)
		}
		if _, err := rpc.ParseTarget(addr); err != nil {
			return fmt.Errorf("ORGPLANE_UPSTREAMS: %s: %w", name, err)
		}
		addrs[name] = strings.TrimSpace(addr)
	}
	var throttle AuthThrottle
	for _, c := range cfg.TrustedProxy {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return fmt.Errorf("ORGPLANE_TRUSTED_PROXIES: %q is not a CIDR", c)
		}
		throttle.TrustedProxies = append(throttle.TrustedProxies, p)
	}
	// New refuses these in its own words ("operator token", "CORS origin"); a person reads the
	// variable they set.
	if len(cfg.OperatorToken) < MinOperatorTokenLen {
		return fmt.Errorf("ORGPLANE_OPERATOR_TOKEN: need at least %d characters", MinOperatorTokenLen)
	}
	for _, o := range cfg.CORSOrigins {
		if o = strings.TrimSpace(o); o != "" {
			if _, err := exactOrigin(o); err != nil {
				return fmt.Errorf("ORGPLANE_CORS_ORIGINS: %q: %w", o, err)
			}
		}
	}
	// Export follows the standard OTEL_* variables (docs/observability.md).
	tel, err := observability.Setup(ctx, "orgplane-gateway", cfg.Version.Build)
	if err != nil {
		return err
	}
	log.Info("telemetry", "traces_exporter", tel.TracesExporter, "metrics_exporter", tel.MetricsExporter)
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	upstreamTLS := rpc.ClientTLS{CAFile: cfg.TLSCAFile, CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile,
		ServerName: cfg.TLSServerName}
	g, err := New(ctx, Config{
		Log: log, Keys: keys, OperatorToken: cfg.OperatorToken, Metrics: tel.Metrics,
		RateLimit: RateLimit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst}, CORSOrigins: cfg.CORSOrigins, AuthFailures: throttle,
		Upstreams: UpstreamsOf(specs, addrs), UpstreamTLS: upstreamTLS, InsecureCookies: cfg.InsecureCookies,
	})
	if err != nil {
		return err
	}
	defer g.Close()
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "addr", lis.Addr().String(), "upstream_tls", upstreamTLS.Enabled())
	if cfg.InsecureCookies {
		log.Warn("session cookies are sent without Secure (ORGPLANE_INSECURE_COOKIES): serve this gateway on loopback only")
	}
	// The public edge: timeouts, header size and a per-client connection cap (README, "The
	// public REST API").
	limits := platform.GatewayHTTPLimits()
	limits.MaxConnsPerClient = max(cfg.MaxConnsPerClient, 0)
	limits.Uncapped = throttle.TrustedProxies
	return platform.ServeHTTPWith(ctx, lis, g, limits)
}
