package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/ardanlabs/conf/v3"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/platform"
)

// EnvConfig is the gateway process's configuration, from ORGPLANE_* variables or --flags.
type EnvConfig struct {
	conf.Version
	HTTPAddr            string   `conf:"default::8080,help:REST listen address"`
	OrgAddr             string   `conf:"default:127.0.0.1:9101,help:org service gRPC address"`
	MappingAddr         string   `conf:"default:127.0.0.1:9102,help:mapping service gRPC address"`
	IntegrationSyncAddr string   `conf:"default:127.0.0.1:9103,help:integration-sync service gRPC address"`
	NotificationAddr    string   `conf:"default:127.0.0.1:9104,help:notification service gRPC address"`
	BillingAddr         string   `conf:"default:127.0.0.1:9105,help:billing service gRPC address"`
	OperatorToken       string   `conf:"required,mask,help:the platform operator's bearer credential of at least 32 characters"`
	IdentityKeys        string   `conf:"required,mask,help:identity token keys as kid:base64key separated by commas; the first signs and all verify"`
	RateLimit           float64  `conf:"default:100,help:requests per second allowed per API key (sustained); 0 disables"`
	RateBurst           int      `conf:"default:200,help:requests an API key may send at once"`
	CORSOrigins         []string `conf:"help:browser origins allowed to call the API separated by semicolons; * for any"`
	OTLPEndpoint        string   `conf:"help:OTLP/gRPC endpoint URL for traces and metrics; empty keeps them in-process"`
	LogLevel            string   `conf:"default:info,help:debug or info or warn or error"`
}

// Main is the gateway binary's main; it returns the exit code.
func Main(ctx context.Context, stdout io.Writer) int {
	cfg := EnvConfig{Version: conf.Version{Desc: "Orgplane REST gateway"}}
	log, code, done := platform.LoadConfig("gateway", &cfg, &cfg.LogLevel, stdout)
	if done {
		return code
	}
	log = log.With("service", "gateway")
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exiting", "error", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cfg EnvConfig, log *slog.Logger) error {
	shown, err := conf.String(&cfg)
	if err != nil {
		return err
	}
	log.Info("configuration", "config", shown)
	keys, err := identity.ParseKeyring(cfg.IdentityKeys)
	if err != nil {
		return fmt.Errorf("ORGPLANE_IDENTITY_KEYS: %w", err)
	}
	tel, err := observability.Setup(ctx, "orgplane-gateway", cfg.Version.Build, cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	g, err := New(ctx, Config{
		Log: log, Keys: keys, OperatorToken: cfg.OperatorToken, Metrics: tel.Metrics,
		RateLimit: RateLimit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst}, CORSOrigins: cfg.CORSOrigins,
		Upstreams: Upstreams{
			Org: cfg.OrgAddr, Mapping: cfg.MappingAddr, IntegrationSync: cfg.IntegrationSyncAddr,
			Notification: cfg.NotificationAddr, Billing: cfg.BillingAddr,
		},
	})
	if err != nil {
		return err
	}
	defer g.Close()
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "addr", lis.Addr().String())
	return platform.ServeHTTP(ctx, lis, g)
}
