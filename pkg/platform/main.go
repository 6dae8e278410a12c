package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/ardanlabs/conf/v3"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/observability"
)

// Config is a service process's configuration, read from ORGPLANE_* environment variables or
// the matching --flags (run a service with --help for the list).
type Config struct {
	conf.Version
	Args conf.Args // "serve" (default) or "migrate"

	GRPCAddr  string `conf:"help:gRPC listen address; default is the service's own port"`
	AdminAddr string `conf:"help:HTTP address of /metrics /healthz /readyz; default is the service's own admin port; off disables"`

	DatabaseURL        string `conf:"required,mask,help:PostgreSQL connection string"`
	MigrateDatabaseURL string `conf:"mask,help:connection string for migrations when they need a stronger login; default DATABASE_URL"`
	DatabaseSetRole    bool   `conf:"default:true,help:SET ROLE orgplane_<service> on every connection so queries run under row-level security"`
	MigrateOnStart     bool   `conf:"default:false,help:apply migrations before serving; Kubernetes runs the migrate command as a Job instead"`

	NatsURL      string `conf:"default:nats://127.0.0.1:4222,help:NATS server with JetStream"`
	OrgAddr      string `conf:"default:127.0.0.1:9101,help:org service gRPC address (used by services that call it)"`
	IdentityKeys string `conf:"required,mask,help:identity token keys as kid:base64key separated by commas; the first signs and all verify"`

	OTLPEndpoint string `conf:"help:OTLP/gRPC endpoint URL for traces and metrics such as http://otel-collector:4317; empty keeps them in-process"`
	LogLevel     string `conf:"default:info,help:debug or info or warn or error"`
}

// Main is a service binary's whole main: parse configuration, then migrate or serve until ctx
// ends. It returns the process exit code.
func Main(ctx context.Context, s Spec, stdout io.Writer) int {
	cfg := Config{Version: conf.Version{Desc: "Orgplane " + s.Name + " service"}}
	log, code, done := LoadConfig(s.Name, &cfg, &cfg.LogLevel, stdout)
	if done {
		return code
	}
	if err := run(ctx, s, cfg, log); err != nil {
		log.Error("exiting", "service", s.Name, "error", err)
		return 1
	}
	return 0
}

// LoadConfig fills cfg (a conf-tagged struct) from ORGPLANE_* variables and --flags and builds
// the process's JSON logger at *level. When done is true the process should exit with code:
// help was printed, or the configuration is invalid (reported on stderr).
func LoadConfig(name string, cfg any, level *string, stdout io.Writer) (log *slog.Logger, code int, done bool) {
	help, err := conf.Parse("ORGPLANE", cfg)
	if err != nil {
		if errors.Is(err, conf.ErrHelpWanted) || errors.Is(err, conf.ErrVersionWanted) {
			fmt.Fprintln(stdout, help)
			return nil, 0, true
		}
		fmt.Fprintf(os.Stderr, "%s: configuration: %v\n", name, err)
		return nil, 2, true
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: ORGPLANE_LOG_LEVEL: %v\n", name, err)
		return nil, 2, true
	}
	return observability.NewLogger(stdout, l), 0, false
}

func run(ctx context.Context, s Spec, cfg Config, log *slog.Logger) error {
	shown, err := conf.String(&cfg)
	if err != nil {
		return err
	}
	log.Info("configuration", "service", s.Name, "config", shown) // secrets are masked by their tags

	migrateURL := cfg.MigrateDatabaseURL
	if migrateURL == "" {
		migrateURL = cfg.DatabaseURL
	}
	cmd := "serve"
	if len(cfg.Args) > 0 {
		cmd = cfg.Args[0]
	}
	switch cmd {
	case "migrate":
		return Migrate(ctx, s, migrateURL, log)
	case "serve":
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", cmd)
	}

	keys, err := identity.ParseKeyring(cfg.IdentityKeys)
	if err != nil {
		return fmt.Errorf("ORGPLANE_IDENTITY_KEYS: %w", err)
	}
	tel, err := observability.Setup(ctx, "orgplane-"+s.Name, cfg.Version.Build, cfg.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit

	if cfg.MigrateOnStart {
		if err := Migrate(ctx, s, migrateURL, log); err != nil {
			return err
		}
	}
	addr := cfg.GRPCAddr
	if addr == "" {
		addr = s.DefaultGRPCAddr
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	o := Options{Log: log, Keys: keys, DB: s.DBConfig(cfg.DatabaseURL), NATSURL: cfg.NatsURL, GRPC: lis, Metrics: tel.Metrics,
		Peers: map[string]string{"org": cfg.OrgAddr}}
	if !cfg.DatabaseSetRole {
		o.DB.Role = ""
	}
	admin := cfg.AdminAddr
	if admin == "" {
		admin = s.DefaultAdminAddr
	}
	if admin != "off" {
		if o.Admin, err = net.Listen("tcp", admin); err != nil {
			return fmt.Errorf("listen %s: %w", admin, err)
		}
		log.Info("admin endpoint", "addr", o.Admin.Addr().String())
	}
	return Serve(ctx, s, o)
}
