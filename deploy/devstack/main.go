// Command devstack is `make run`: the whole Orgplane suite on one machine with no setup. It
// finds or starts PostgreSQL, migrates every schema, runs an embedded NATS JetStream server,
// every service and the gateway, prints how to reach them, and on Ctrl-C stops all of it.
//
// `devstack nats-credential -account <id>` mints an account's read-only NATS credential from the
// dev stack's keys (docs/events.md).
//
// `devstack token -role admin -account <id> [-service org]` prints an identity token a service
// accepts, for calling it with grpcurl (README, "Calling a service with grpcurl").
//
// `devstack version` (or -version) prints the build.
//
// `devstack dead-letters [-consumer NAME] [-replay]` lists the events consumers set aside as
// dead letters, and replays them once the cause is fixed (docs/events.md).
//
// `devstack with-postgres -- CMD...` runs CMD with DATABASE_URL pointing at a server found or
// started the same way (a private one unsynced: test data only), then stops what it started;
// `make test` uses it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/version"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "with-postgres" {
		os.Exit(withPostgres(ctx, os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "nats-credential" {
		os.Exit(natsCredential(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "dead-letters" {
		os.Exit(deadLetters(ctx, os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "token" {
		os.Exit(token(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && slices.Contains([]string{"version", "-version", "--version"}, os.Args[1]) {
		fmt.Println(version.Get().String("devstack"))
		os.Exit(0)
	}
	restore := takeTerminal()
	err := run(ctx, stop, os.Args[1:])
	restore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stopSignals func(), args []string) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	stateDir := fs.String("state", envOr("ORGPLANE_DEV_STATE", ".run"), "folder for the private Postgres cluster, NATS store and dev credentials")
	host := fs.String("host", envOr("ORGPLANE_DEV_HOST", "127.0.0.1"), "interface to listen on")
	gwPort := fs.Int("gateway-port", 8080, "REST gateway port (0: any free port)")
	basePort := fs.Int("service-base-port", 9101, "first of five consecutive service gRPC ports (0: any free ports)")
	adminPort := fs.Int("admin-port", 9200, "/metrics port (-1 disables)")
	natsPort := fs.Int("nats-port", 4322, "embedded NATS port (0: any free port)")
	ratePerSec := fs.Float64("rate-limit", 100, "gateway requests per second per API key")
	rateBurst := fs.Int("rate-burst", 200, "gateway burst per API key")
	pgMode := fs.String("postgres", envOr("ORGPLANE_DEV_POSTGRES", "auto"), "auto: $DATABASE_URL, else 127.0.0.1:5432, else a private cluster; private: always the private cluster")
	simPort := fs.Int("simulator-base-port", 9411, "first of four consecutive ports of the IT Glue, ConnectWise, Autotask and generic simulators (0: any free ports, -1: no simulators)")
	simCompanies := fs.Int("simulator-companies", 300, "clients each simulated tool is seeded with")
	mailPort := fs.Int("mail-port", envInt("ORGPLANE_DEV_MAIL_PORT", 8025), "port of the web inbox showing every email the suite sends (0: any free port, -1: no inbox)")
	smtpPort := fs.Int("smtp-port", envInt("ORGPLANE_DEV_SMTP_PORT", 1025), "port of the SMTP server that catches the suite's emails (0: any free port)")
	smtpRelay := fs.String("smtp", os.Getenv("ORGPLANE_DEV_SMTP"), "host:port of an SMTP server (plaintext, no login) to send through instead of the built-in one; no inbox then")
	logLevel := fs.String("log-level", envOr("ORGPLANE_LOG_LEVEL", "info"), "debug|info|warn|error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pgMode != "auto" && *pgMode != "private" {
		return fmt.Errorf("-postgres %q: want auto or private", *pgMode)
	}
	if *pgMode == "private" {
		os.Unsetenv("DATABASE_URL")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := observability.NewLogger(os.Stderr, level)
	state, err := filepath.Abs(*stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}

	pg, err := pgcluster.Ensure(ctx, pgcluster.Options{
		DataDir:         filepath.Join(state, "postgres"),
		AllowInstall:    true,
		SkipDefaultPort: *pgMode == "private",
		Logf:            func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			log.Error("stopping postgres", "error", err)
		}
	}()
	log.Info("postgres ready", "source", pg.Source)

	credPath := filepath.Join(state, "dev-credentials")
	secrets, err := devSecrets(credPath)
	if err != nil {
		return err
	}
	keys, err := identity.ParseKeyring(secrets.identityKeys)
	if err != nil {
		return err
	}
	tel, err := observability.Setup(ctx, "orgplane-devstack", version.Get().Version, os.Getenv("ORGPLANE_OTLP_ENDPOINT"))
	if err != nil {
		return err
	}
	if err := platform.RecordBuildInfo(otel.GetMeterProvider()); err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) //nolint:errcheck // best effort at exit

	// The inbox's port is taken before anything starts, so a clash fails at once.
	var inbox net.Listener
	if *smtpRelay == "" && *mailPort >= 0 {
		if inbox, err = net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*mailPort))); err != nil {
			return fmt.Errorf("mail inbox: %w (-mail-port moves it, -1 turns it off)", err)
		}
		defer inbox.Close()
	}

	ports := map[string]int{}
	if *basePort != 0 {
		for i, s := range stack.Specs(nil) {
			ports[s.Name] = *basePort + i
		}
	}
	st, err := stack.Start(ctx, stack.Options{
		Log: log, DatabaseURL: pg.URL, NATSDir: filepath.Join(state, "nats"), NATSPort: *natsPort,
		Host: *host, GatewayPort: *gwPort, ServicePorts: ports, AdminPort: *adminPort, Metrics: tel.Metrics,
		Keys: keys, OperatorToken: secrets.operatorToken, CredentialKeys: secrets.credentialKeys,
		RateLimit: gatewaysvc.RateLimit{PerSecond: *ratePerSec, Burst: *rateBurst},
		SMTPAddr:  *smtpRelay, MailSinkPort: *smtpPort,
	})
	if err != nil {
		return err
	}
	inboxURL := ""
	if inbox != nil && st.Mail != nil {
		inboxURL = "http://" + inbox.Addr().String()
		inboxCtx, stopInbox := context.WithCancel(ctx)
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := platform.ServeHTTP(inboxCtx, inbox, st.Mail.Handler()); err != nil {
				log.Error("mail inbox", "error", err)
			}
		}()
		defer func() {
			stopInbox()
			<-served
		}()
	}
	banner(os.Stdout, st, *host, secrets.operatorToken, inboxURL)
	if *simPort >= 0 {
		simPorts := map[string]int{}
		if *simPort > 0 {
			for i, name := range []string{"itglue", "connectwise", "autotask", "generic"} {
				simPorts[name] = *simPort + i
			}
		}
		sims, err := simulators.Start(ctx, simulators.Options{Host: *host, Ports: simPorts, Companies: *simCompanies})
		if err != nil {
			return fmt.Errorf("%w (-simulator-base-port moves them, -1 turns them off)", err)
		}
		dev, err := connectTools(ctx, st.GatewayURL, &secrets, credPath, sims, *simCompanies)
		switch {
		case err == nil:
			toolsBanner(os.Stdout, st.GatewayURL, dev)
		case ctx.Err() == nil:
			return err
		}
		// Interrupted while connecting: stop as after the banner.
	}
	fmt.Fprint(os.Stdout, "Press Ctrl-C to stop.\n\n")
	<-ctx.Done()
	stopSignals() // a second Ctrl-C now kills at once
	log.Info("stopping")
	if err := st.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func banner(w io.Writer, st *stack.Stack, host, token, inboxURL string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOrgplane is running.\n\n")
	fmt.Fprintf(&b, "  REST gateway   %s   (readiness: %s/readyz, API document: %s/openapi.json)\n", st.GatewayURL, st.GatewayURL, st.GatewayURL)
	for _, s := range stack.Specs(nil) {
		fmt.Fprintf(&b, "  %-16s grpc://%s\n", s.Name, st.ServiceAddrs[s.Name])
	}
	fmt.Fprintf(&b, "  NATS           %s   (every client needs a credential: the services' and an administrator's are in %s;\n"+
		"                 an MSP's read-only one for its account: devstack nats-credential -account <id>, see docs/events.md)\n",
		st.NATSURL, filepath.Dir(st.NATSAdminCreds))
	// The services' gRPC is plaintext here; production serves it over TLS (ORGPLANE_TLS_*).
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		fmt.Fprintf(&b, "  gRPC between services: plaintext on loopback\n")
	} else {
		fmt.Fprintf(&b, "  gRPC between services: PLAINTEXT on %s (not loopback: anyone on the network can read it)\n", host)
	}
	if st.AdminURL != "" {
		fmt.Fprintf(&b, "  metrics        %s/metrics\n", st.AdminURL)
	}
	switch {
	case inboxURL != "":
		fmt.Fprintf(&b, "  mail inbox     %s   (every email the suite sends; JSON at %s/api/messages)\n", inboxURL, inboxURL)
		fmt.Fprintf(&b, "  SMTP           smtp://%s   (catches all mail; nothing leaves this machine)\n", st.SMTPAddr)
	case st.Mail != nil:
		fmt.Fprintf(&b, "  SMTP           smtp://%s   (catches all mail; nothing leaves this machine; no web inbox)\n", st.SMTPAddr)
	default:
		fmt.Fprintf(&b, "  SMTP           smtp://%s   (emails are sent there)\n", st.SMTPAddr)
	}
	fmt.Fprintf(&b, "\nPlatform operator credential (kept in .run/dev-credentials):\n  %s\n", token)
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' -d '{\"account\":{\"displayName\":\"Contoso MSP\"},\"administrator\":{\"firstName\":\"Ada\",\"lastName\":\"Admin\",\"email\":\"ada@contoso.example\"}}' %s/v1/accounts\n", token, st.GatewayURL)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s list\n\n", st.ServiceAddrs["org"])
	_, _ = io.WriteString(w, b.String())
}

type secrets struct {
	operatorToken, identityKeys, credentialKeys string
	// The bootstrap account and its administrator's key, once made.
	accountID, adminKey string
}

// devSecrets keeps the dev stack's credentials across runs so scripts and shells stay valid;
// they are random per checkout and never leave .run/.
func devSecrets(path string) (secrets, error) {
	var s secrets
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "ORGPLANE_OPERATOR_TOKEN":
				s.operatorToken = v
			case "ORGPLANE_IDENTITY_KEYS":
				s.identityKeys = v
			case "ORGPLANE_CREDENTIAL_KEYS":
				s.credentialKeys = v
			case "ORGPLANE_DEV_ACCOUNT_ID":
				s.accountID = v
			case "ORGPLANE_DEV_ADMIN_KEY":
				s.adminKey = v
			}
		}
		if s.operatorToken != "" && s.identityKeys != "" && s.credentialKeys != "" {
			return s, nil
		}
	}
	if s.operatorToken == "" || s.identityKeys == "" {
		s = secrets{operatorToken: "op_" + random(32), identityKeys: "dev1:" + base64.StdEncoding.EncodeToString([]byte(random(32)))}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s.credentialKeys = "dev1:" + base64.StdEncoding.EncodeToString(key)
	return s, s.save(path)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// envInt is envOr for a number; a value that is not one is left for the flag's default.
func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// withPostgres runs a command with DATABASE_URL set, the way make test needs it.
func withPostgres(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: devstack with-postgres -- CMD [ARGS...]")
		return 2
	}
	state := envOr("ORGPLANE_DEV_STATE", ".run")
	pg, err := pgcluster.Ensure(ctx, pgcluster.Options{
		DataDir:      filepath.Join(state, "postgres-test"),
		AllowInstall: true,
		// Throwaway test databases: fsync and synchronous commit off for speed. make run's
		// own cluster (.run/postgres) stays durable.
		Unsynced: true,
		Logf:     func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	defer pg.Stop() //nolint:errcheck // reported by pgcluster's own logging
	fmt.Fprintf(os.Stderr, "postgres for tests: %s (%s)\n", redact(pg.URL), pg.Source)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pg.URL)
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		return 1
	}
	return 0
}

func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if i := strings.Index(u, "://"); i > 0 && strings.Contains(u[i+3:at], ":") {
			return u[:i+3] + "***" + u[at:]
		}
	}
	return u
}
