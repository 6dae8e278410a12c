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

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
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
	o, err := parseFlags(os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: %v\n(devstack -help lists the flags and their variables)\n", err)
		os.Exit(2)
	}
	restore := takeTerminal()
	err = run(ctx, stop, o)
	restore()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// options are the dev stack's flags, each of which an ORGPLANE_* variable sets too (the flag
// wins), so that `make run` takes them either way.
type options struct {
	state, host, pgMode, smtpRelay string
	logLevel                       slog.Level
	gwPort, basePort, adminPort    int
	natsPort, simPort, mailPort    int
	smtpPort, simCompanies         int
	oidcPort                       int
	ratePerSec                     float64
	rateBurst                      int
	// env maps a flag's name to the variable that also sets it, for messages.
	env map[string]string
}

// parseFlags reads the variables, then the flags over them. -help (or -h) prints the usage on
// stdout and returns flag.ErrHelp; a bad value names the flag or variable it came from.
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	var o options
	o.env = map[string]string{}
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller reports errors once; help goes to stdout below
	fs.StringVar(&o.state, "state", ".run", "folder for the private Postgres cluster, NATS store and dev credentials")
	o.env["state"] = "ORGPLANE_DEV_STATE"
	fs.StringVar(&o.host, "host", "127.0.0.1", "interface to listen on")
	o.env["host"] = "ORGPLANE_DEV_HOST"
	fs.IntVar(&o.gwPort, "gateway-port", 8080, "REST gateway port (0: any free port)")
	o.env["gateway-port"] = "ORGPLANE_DEV_GATEWAY_PORT"
	fs.IntVar(&o.basePort, "service-base-port", 9101, "first of five consecutive service gRPC ports (0: any free ports)")
	o.env["service-base-port"] = "ORGPLANE_DEV_SERVICE_BASE_PORT"
	fs.IntVar(&o.adminPort, "admin-port", 9200, "/metrics port (0: any free port, -1 disables)")
	o.env["admin-port"] = "ORGPLANE_DEV_ADMIN_PORT"
	fs.IntVar(&o.natsPort, "nats-port", 4322, "embedded NATS port (0: any free port)")
	o.env["nats-port"] = "ORGPLANE_DEV_NATS_PORT"
	fs.Float64Var(&o.ratePerSec, "rate-limit", 100, "gateway requests per second per API key")
	fs.IntVar(&o.rateBurst, "rate-burst", 200, "gateway burst per API key")
	pgMode := fs.String("postgres", "auto", "auto: $DATABASE_URL, else 127.0.0.1:5432, else a private cluster; private: always the private cluster")
	o.env["postgres"] = "ORGPLANE_DEV_POSTGRES"
	fs.IntVar(&o.simPort, "simulator-base-port", 9411, "first of four consecutive ports of the IT Glue, ConnectWise, Autotask and generic simulators (0: any free ports, -1: no simulators)")
	o.env["simulator-base-port"] = "ORGPLANE_DEV_SIMULATOR_BASE_PORT"
	fs.IntVar(&o.simCompanies, "simulator-companies", 300, "clients each simulated tool is seeded with")
	fs.IntVar(&o.mailPort, "mail-port", 8025, "port of the web inbox showing every email the suite sends (0: any free port, -1: no inbox)")
	o.env["mail-port"] = "ORGPLANE_DEV_MAIL_PORT"
	fs.IntVar(&o.smtpPort, "smtp-port", 1025, "port of the SMTP server that catches the suite's emails (0: any free port)")
	o.env["smtp-port"] = "ORGPLANE_DEV_SMTP_PORT"
	fs.StringVar(&o.smtpRelay, "smtp", "", "host:port of an SMTP server (plaintext, no login) to send through instead of the built-in one; no inbox then")
	o.env["smtp"] = "ORGPLANE_DEV_SMTP"
	// A fixed default, so the issuer an account was set up with stays valid across runs.
	fs.IntVar(&o.oidcPort, "oidc-port", 5556, "port of the local OpenID Connect provider for single sign-on (0: any free port, -1: none)")
	o.env["oidc-port"] = "ORGPLANE_DEV_OIDC_PORT"
	logLevel := fs.String("log-level", "info", "debug|info|warn|error")
	o.env["log-level"] = "ORGPLANE_LOG_LEVEL"
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := o.env[f.Name]; ok {
			f.Usage += " [$" + v + "]"
		}
	})
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `Usage: devstack [flags]
       make run ARGS="-gateway-port 8081 -nats-port 4323"

Runs the whole Orgplane suite on this machine until Ctrl-C. A flag's variable (in brackets)
sets it too; the flag wins. Other commands: with-postgres, nats-credential, token,
dead-letters, version (each with -help).

Flags:
`)
		fs.PrintDefaults()
	}
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		variable, ok := o.env[f.Name]
		if !ok || bad != nil {
			return
		}
		if v := getenv(variable); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				bad = fmt.Errorf("%s=%q: want %s", variable, v, want(f))
			}
		}
	})
	if bad != nil {
		return o, bad
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unknown command or argument %q", fs.Arg(0))
	}
	if *pgMode != "auto" && *pgMode != "private" {
		return o, fmt.Errorf("-postgres (or %s) %q: want auto or private", o.env["postgres"], *pgMode)
	}
	o.pgMode = *pgMode
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return o, fmt.Errorf("-log-level (or %s) %q: want debug, info, warn or error", o.env["log-level"], *logLevel)
	}
	return o, nil
}

// want says what kind of value a flag takes, for an error about its variable.
func want(f *flag.Flag) string {
	switch f.Value.(flag.Getter).Get().(type) {
	case int:
		return "a whole number (-" + f.Name + ")"
	case float64:
		return "a number (-" + f.Name + ")"
	}
	return "a value for -" + f.Name
}

// portUse is one port the dev stack will listen on, with what moves it.
type portUse struct {
	port      int
	what      string
	flag, env string
}

// checkPorts tries every fixed port before anything starts, so a clash fails at once and names
// the flag and variable that move it, rather than surfacing later as some component's vague
// listen error. Each port is held until all are tried, so two flags naming one port clash too.
func checkPorts(host string, o options) error {
	var uses []portUse
	add := func(port int, what, name string) {
		if port > 0 {
			uses = append(uses, portUse{port, what, name, o.env[name]})
		}
	}
	add(o.gwPort, "REST gateway", "gateway-port")
	if o.basePort > 0 {
		for i, s := range stack.Specs(nil) {
			add(o.basePort+i, s.Name+" gRPC", "service-base-port")
		}
	}
	add(o.adminPort, "metrics", "admin-port")
	add(o.natsPort, "NATS", "nats-port")
	if o.simPort > 0 {
		for i, name := range []string{"itglue", "connectwise", "autotask", "generic"} {
			add(o.simPort+i, name+" simulator", "simulator-base-port")
		}
	}
	if o.smtpRelay == "" {
		add(o.mailPort, "mail inbox", "mail-port")
		add(o.smtpPort, "SMTP", "smtp-port")
	}
	add(o.oidcPort, "OIDC provider", "oidc-port")
	taken := map[int]string{}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, u := range uses {
		moves := fmt.Sprintf("-%s or %s moves it", u.flag, u.env)
		if other, ok := taken[u.port]; ok {
			return fmt.Errorf("port %d is given to both %s and %s; %s", u.port, other, u.what, moves)
		}
		taken[u.port] = u.what
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(u.port)))
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d (%s) is already in use on %s; %s (0 picks a free port)", u.port, u.what, host, moves)
		}
		if err != nil {
			return fmt.Errorf("port %d (%s): %w; %s", u.port, u.what, err, moves)
		}
		held = append(held, l)
	}
	return nil
}

func run(ctx context.Context, stopSignals func(), o options) error {
	if o.pgMode == "private" {
		os.Unsetenv("DATABASE_URL")
	}
	log := observability.NewLogger(os.Stderr, o.logLevel)
	if err := checkPorts(o.host, o); err != nil {
		return err
	}
	state, err := filepath.Abs(o.state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}

	pg, err := pgcluster.Ensure(ctx, pgcluster.Options{
		DataDir:         filepath.Join(state, "postgres"),
		AllowInstall:    true,
		SkipDefaultPort: o.pgMode == "private",
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
	// Export follows the standard OTEL_* variables (docs/observability.md).
	tel, err := observability.Setup(ctx, "orgplane-devstack", version.Get().Version)
	if err != nil {
		return err
	}
	log.Info("telemetry", "traces_exporter", tel.TracesExporter, "metrics_exporter", tel.MetricsExporter)
	if err := platform.RecordBuildInfo(otel.GetMeterProvider()); err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) //nolint:errcheck // best effort at exit

	// The inbox's port is held from here, so nothing else in the stack can take it.
	var inbox net.Listener
	if o.smtpRelay == "" && o.mailPort >= 0 {
		if inbox, err = net.Listen("tcp", net.JoinHostPort(o.host, fmt.Sprint(o.mailPort))); err != nil {
			return fmt.Errorf("mail inbox: %w (-mail-port or %s moves it, -1 turns it off)", err, o.env["mail-port"])
		}
		defer inbox.Close()
	}

	ports := map[string]int{}
	if o.basePort != 0 {
		for i, s := range stack.Specs(nil) {
			ports[s.Name] = o.basePort + i
		}
	}
	st, err := stack.Start(ctx, stack.Options{
		Log: log, DatabaseURL: pg.URL, NATSDir: filepath.Join(state, "nats"), NATSPort: o.natsPort,
		Host: o.host, GatewayPort: o.gwPort, ServicePorts: ports, AdminPort: o.adminPort, Metrics: tel.Metrics,
		Keys: keys, OperatorToken: secrets.operatorToken, CredentialKeys: secrets.credentialKeys,
		RateLimit: gatewaysvc.RateLimit{PerSecond: o.ratePerSec, Burst: o.rateBurst},
		SMTPAddr:  o.smtpRelay, MailSinkPort: o.smtpPort,
		OIDCPort: o.oidcPort, OIDCClientSecret: secrets.oidcClientSecret, OIDCUsers: []oidcdev.User{devPerson(secrets)},
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
	// The state folder as the user gave it (relative stays relative), where the credentials are.
	banner(os.Stdout, st, o.host, secrets, inboxURL, filepath.Join(o.state, "dev-credentials"))
	if o.simPort >= 0 {
		simPorts := map[string]int{}
		if o.simPort > 0 {
			for i, name := range []string{"itglue", "connectwise", "autotask", "generic"} {
				simPorts[name] = o.simPort + i
			}
		}
		sims, err := simulators.Start(ctx, simulators.Options{Host: o.host, Ports: simPorts, Companies: o.simCompanies})
		if err != nil {
			return fmt.Errorf("%w (-simulator-base-port or %s moves them, -1 turns them off)", err, o.env["simulator-base-port"])
		}
		dev, err := connectTools(ctx, st.GatewayURL, &secrets, credPath, sims, o.simCompanies)
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

func banner(w io.Writer, st *stack.Stack, host string, s secrets, inboxURL, credPath string) {
	token := s.operatorToken
	var b strings.Builder
	fmt.Fprintf(&b, "\nOrgplane is running.\n\n")
	fmt.Fprintf(&b, "  web UI         %s/   (sign in with an account's user; the same origin serves the API)\n", st.GatewayURL)
	fmt.Fprintf(&b, "  REST gateway   %s   (readiness: %s/readyz, API document: %s/openapi.json)\n", st.GatewayURL, st.GatewayURL, st.GatewayURL)
	for _, s := range stack.Specs(nil) {
		fmt.Fprintf(&b, "  %-16s grpc://%s\n", s.Name, st.ServiceAddrs[s.Name])
	}
	fmt.Fprintf(&b, "  NATS           %s   (every client needs a credential: the services' and an administrator's are in %s;\n"+
		"                 an MSP's read-only one for its account: devstack nats-credential -account <id>, see docs/events.md)\n",
		st.NATSURL, filepath.Dir(st.NATSAdminCreds))
	// The services' gRPC is plaintext here; production serves it over TLS (ORGPLANE_TLS_*).
	// The gateway serves plain HTTP, so the session cookie goes without Secure (browsers refuse
	// a Secure cookie over HTTP): ORGPLANE_INSECURE_COOKIES in production terms.
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		fmt.Fprintf(&b, "  gRPC between services: plaintext on loopback\n")
		fmt.Fprintf(&b, "  session cookies: orgplane_session, without Secure (insecure cookies: plain HTTP on loopback)\n")
	} else {
		fmt.Fprintf(&b, "  gRPC between services: PLAINTEXT on %s (not loopback: anyone on the network can read it)\n", host)
		fmt.Fprintf(&b, "  session cookies: orgplane_session, WITHOUT Secure on %s (insecure cookies: anyone on the network can read them)\n", host)
	}
	if st.AdminURL != "" {
		fmt.Fprintf(&b, "  metrics        %s/metrics\n", st.AdminURL)
	}
	if st.OIDC != nil {
		fmt.Fprintf(&b, "  OIDC provider  %s   (single sign-on for local use; discovery: %s/.well-known/openid-configuration)\n",
			st.OIDC.Issuer, st.OIDC.Issuer)
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
	fmt.Fprintf(&b, "\nPlatform operator credential (kept in %s):\n  %s\n", credPath, token)
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' -d '{\"account\":{\"displayName\":\"Contoso MSP\"},\"administrator\":{\"firstName\":\"Ada\",\"lastName\":\"Admin\",\"email\":\"ada@contoso.example\"}}' %s/v1/accounts\n", token, st.GatewayURL)
	fmt.Fprintf(&b, "  grpcurl -plaintext %s list\n\n", st.ServiceAddrs["org"])
	if st.OIDC != nil {
		ssoBanner(&b, st, s, credPath)
	}
	_, _ = io.WriteString(w, b.String())
}

// devPerson is the person seeded at the local OpenID Connect provider: the README's example
// administrator, with the password kept in the state folder.
func devPerson(s secrets) oidcdev.User {
	return oidcdev.User{Email: "ada@contoso.example", Password: s.oidcPassword, GivenName: "Ada", FamilyName: "Admin", EmailVerified: true}
}

// ssoBanner says how to sign in through the local OpenID Connect provider: its client and person,
// setting it up for the example account, and starting a sign-in.
func ssoBanner(b *strings.Builder, st *stack.Stack, s secrets, credPath string) {
	p := devPerson(s)
	fmt.Fprintf(b, "Single sign-on through the local OIDC provider (its secrets are kept in %s):\n", credPath)
	fmt.Fprintf(b, "  issuer %s   client id %s   client secret %s\n", st.OIDC.Issuer, st.OIDCClientID, st.OIDCClientSecret)
	fmt.Fprintf(b, "  person %s   password %s   (%s %s, email verified)\n", p.Email, p.Password, p.GivenName, p.FamilyName)
	fmt.Fprintf(b, "Set it up for the account made above (its id and administratorApiKey are in that answer):\n")
	fmt.Fprintf(b, "  curl -s -X PUT -H 'Authorization: Bearer <administratorApiKey>' -d '{\"issuer\":\"%s\",\"clientId\":\"%s\",\"clientSecret\":\"%s\"}' %s/v1/accounts/<account id>/singleSignOnProvider\n",
		st.OIDC.Issuer, st.OIDCClientID, st.OIDCClientSecret, st.GatewayURL)
	fmt.Fprintf(b, "Start a sign-in, follow its authorizationUrl with the same cookie jar (the flow is bound to it) and sign in there as %s;\n"+
		"the provider sends you back to the callback, which sets the session cookie:\n", p.Email)
	fmt.Fprintf(b, "  curl -s -c sso-cookies.txt -d '{\"email\":\"%s\"}' %s/v1/singleSignOn:start\n\n", p.Email, st.GatewayURL)
}

type secrets struct {
	operatorToken, identityKeys, credentialKeys string
	// The local OpenID Connect provider's client secret and its person's password.
	oidcClientSecret, oidcPassword string
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
			case "ORGPLANE_DEV_OIDC_CLIENT_SECRET":
				s.oidcClientSecret = v
			case "ORGPLANE_DEV_OIDC_PASSWORD":
				s.oidcPassword = v
			}
		}
		if s.operatorToken != "" && s.identityKeys != "" && s.credentialKeys != "" && s.oidcClientSecret != "" && s.oidcPassword != "" {
			return s, nil
		}
	}
	if s.operatorToken == "" || s.identityKeys == "" {
		s = secrets{operatorToken: "op_" + random(32), identityKeys: "dev1:" + base64.StdEncoding.EncodeToString([]byte(random(32))),
			oidcClientSecret: s.oidcClientSecret, oidcPassword: s.oidcPassword}
	}
	if s.credentialKeys == "" {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		s.credentialKeys = "dev1:" + base64.StdEncoding.EncodeToString(key)
	}
	// Added to an older state folder's file without touching what it already holds.
	if s.oidcClientSecret == "" {
		s.oidcClientSecret = random(24)
	}
	if s.oidcPassword == "" {
		s.oidcPassword = random(12)
	}
	return s, s.save(path)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
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
