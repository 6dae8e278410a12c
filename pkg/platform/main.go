package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/ardanlabs/conf/v3"
	"go.opentelemetry.io/otel"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// EnvPrefix starts every Orgplane environment variable.
const EnvPrefix = "ORGPLANE"

// Config is a service process's configuration, read from ORGPLANE_* environment variables or
// the matching --flags (run a service with --help for the list). Every field names its variable
// in an env tag, so errors can name it too (TestConfigFieldsNameTheirVariables).
type Config struct {
	conf.Version
	Args conf.Args // "serve" (default), "migrate", "version" or one of the Spec's Commands

	GRPCAddr  string `conf:"env:GRPC_ADDR,help:gRPC listen address; default is the service's own port"`
	AdminAddr string `conf:"env:ADMIN_ADDR,help:HTTP address of /metrics /healthz /readyz; default is the service's own admin port; off disables"`

	DatabaseURL        string `conf:"env:DATABASE_URL,required,mask,help:PostgreSQL connection string"`
	MigrateDatabaseURL string `conf:"env:MIGRATE_DATABASE_URL,mask,help:connection string for migrations when they need a stronger login; default DATABASE_URL"`
	DatabaseSetRole    bool   `conf:"env:DATABASE_SET_ROLE,default:true,help:SET ROLE orgplane_<service> on every connection so queries run under row-level security"`
	MigrateOnStart     bool   `conf:"env:MIGRATE_ON_START,default:false,help:apply migrations before serving; Kubernetes runs the migrate command as a Job instead"`

	NatsURL      string   `conf:"env:NATS_URL,default:nats://127.0.0.1:4222,mask,help:NATS server with JetStream; for a cluster its servers separated by commas (masked when logged: a URL can carry a password)"`
	Peers        []string `conf:"env:PEERS,help:gRPC addresses of the services this one calls as name=address separated by semicolons; an address is host:port or replicas as host:port separated by commas or a target such as dns:///headless-service:port (calls spread round robin); default each at 127.0.0.1 on its usual port"`
	IdentityKeys string   `conf:"env:IDENTITY_KEYS,mask,help:identity token keys as kid:base64key separated by commas; the first signs and all verify; required to serve (migrate needs none)"`

	TLSCertFile       string `conf:"env:TLS_CERT_FILE,help:PEM certificate the gRPC server presents; with TLS_KEY_FILE it serves TLS only; re-read when the file changes"`
	TLSKeyFile        string `conf:"env:TLS_KEY_FILE,help:PEM private key of TLS_CERT_FILE"`
	TLSClientCAFile   string `conf:"env:TLS_CLIENT_CA_FILE,help:PEM CAs whose client certificate every gRPC caller must present (mutual TLS); empty asks for none"`
	TLSCAFile         string `conf:"env:TLS_CA_FILE,flag:tls-ca-file,help:PEM CAs that sign the peers' gRPC certificates; setting it (or the client certificate) calls peers over TLS"`
	TLSClientCertFile string `conf:"env:TLS_CLIENT_CERT_FILE,flag:tls-client-cert-file,help:PEM certificate presented to peers that require mutual TLS"`
	TLSClientKeyFile  string `conf:"env:TLS_CLIENT_KEY_FILE,flag:tls-client-key-file,help:PEM private key of TLS_CLIENT_CERT_FILE"`
	TLSServerName     string `conf:"env:TLS_SERVER_NAME,help:name every peer's certificate must carry instead of the host of its address"`

	NatsCreds        string `conf:"env:NATS_CREDS,help:the service's NATS credential: a creds file (user JWT and NKey seed) from nsc; see docs/events.md for the permissions it needs"`
	NatsNKeySeedFile string `conf:"env:NATS_NKEY_SEED_FILE,flag:nats-nkey-seed-file,help:file holding the service's NKey user seed; instead of NATS_CREDS for a server that lists NKey users"`
	NatsUser         string `conf:"env:NATS_USER,help:NATS user name; with NATS_PASSWORD instead of NATS_CREDS"`
	NatsPassword     string `conf:"env:NATS_PASSWORD,mask,help:NATS password of NATS_USER"`
	NatsCAFile       string `conf:"env:NATS_CA_FILE,help:PEM CAs that sign the NATS server's certificate; setting it requires TLS to NATS"`
	NatsCertFile     string `conf:"env:NATS_CERT_FILE,help:PEM client certificate for a NATS server that verifies clients"`
	NatsKeyFile      string `conf:"env:NATS_KEY_FILE,help:PEM private key of NATS_CERT_FILE"`

	NatsStreamReplicas int `conf:"env:NATS_STREAM_REPLICAS,default:1,notzero,help:servers of the NATS cluster that keep each stream the service creates; 1 to 5 and at most the cluster's size; 3 survives the loss of one"`

	// Traces and metrics are exported as the standard OTEL_* variables say (docs/observability.md).
	LogLevel string `conf:"env:LOG_LEVEL,default:info,help:debug or info or warn or error"`
}

// Main is a service binary's whole main: parse configuration, then migrate or serve until ctx
// ends. It returns the process exit code.
func Main(ctx context.Context, s Spec, stdout io.Writer) int {
	cfg := Config{Version: conf.Version{Desc: "Orgplane " + s.Name + " service"}}
	cfgs := []any{&cfg}
	if s.Config != nil {
		cfgs = append(cfgs, s.Config)
	}
	log, code, done := LoadConfig(s.Name, &cfg.LogLevel, stdout, cfgs...)
	if done {
		return code
	}
	if err := run(ctx, s, cfg, log); err != nil {
		log.Error("exiting", "service", s.Name, "error", err)
		return 1
	}
	return 0
}

// LoadConfig fills each of cfgs (conf-tagged structs; the first holds conf.Version) from
// ORGPLANE_* variables and --flags, builds the process's JSON logger at *level and registers
// its build_info metric. When done is true the process should exit with code: help or the
// version (--version, or the version command) was printed, or the configuration is invalid
// (reported on stderr, naming the variable).
func LoadConfig(name string, level *string, stdout io.Writer, cfgs ...any) (log *slog.Logger, code int, done bool) {
	// `version` as a command too, like `go version`: it needs no configuration, whereas the
	// parse below would first insist on the required settings.
	if len(os.Args) > 1 && os.Args[1] == "version" {
		printVersion(stdout, name)
		return nil, 0, true
	}
	if len(cfgs) > 0 {
		stampVersion(cfgs[0])
	}
	for i, cfg := range cfgs {
		help, err := conf.Parse(EnvPrefix, cfg)
		if err != nil {
			if errors.Is(err, conf.ErrVersionWanted) {
				printVersion(stdout, name)
				return nil, 0, true
			}
			if errors.Is(err, conf.ErrHelpWanted) {
				fmt.Fprintln(stdout, help)
				// The service's own settings follow the platform's in the help.
				for _, more := range cfgs[i+1:] {
					usage, _ := conf.UsageInfo(EnvPrefix, more)
					fmt.Fprintln(stdout, usage)
				}
				return nil, 0, true
			}
			fmt.Fprintf(os.Stderr, "%s: configuration: %v\n", name, explainConfigError(err, cfg))
			return nil, 2, true
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s_LOG_LEVEL: %v\n", name, EnvPrefix, err)
		return nil, 2, true
	}
	log = observability.NewLogger(stdout, l)
	// Every binary built on the platform (services and gateway) starts here, before its
	// telemetry: the global provider passes the gauge on once observability.Setup installs one.
	if err := RecordBuildInfo(otel.GetMeterProvider()); err != nil {
		log.Warn("no build_info metric", "error", err)
	}
	return log, 0, false
}

// ParseServiceConfig reads a service's own settings (Spec.Config) from the environment and
// flags, with its defaults; errors name the variable.
func ParseServiceConfig(cfg any) error {
	if _, err := conf.Parse(EnvPrefix, cfg); err != nil && !errors.Is(err, conf.ErrHelpWanted) && !errors.Is(err, conf.ErrVersionWanted) {
		return fmt.Errorf("configuration: %w", explainConfigError(err, cfg))
	}
	return nil
}

// The forms of conf's errors (ardanlabs/conf v3), each naming a Go field.
var (
	requiredMissing = regexp.MustCompile(`^required field (\w+) is missing value$`)
	zeroValue       = regexp.MustCompile(`^field (\w+) is set to zero value$`)
	badValue        = regexp.MustCompile(`(?s)^conf: error assigning to field (\w+): converting '(.*)' to type \S+\. details: (.*)$`)
	badFlagSyntax   = regexp.MustCompile(`^bad flag syntax: (.*)$`)
)

// explainConfigError rewrites conf's errors, which name Go fields and types ("required field
// DatabaseURL is missing value", "error assigning to field TrialLimit: converting 'many' to type
// int32"), to name what a person sets: the environment variable, or the flag when the bad value
// came from one, and the kind of value wanted. A masked setting's value is not repeated.
func explainConfigError(err error, cfg any) error {
	settings := settingsOf(cfg)
	msg := strings.TrimPrefix(err.Error(), "parsing config: ")
	if m := requiredMissing.FindStringSubmatch(msg); m != nil {
		s := settings.of(m[1])
		return fmt.Errorf("%s is required (or the --%s flag)", s.env, s.flag)
	}
	if m := zeroValue.FindStringSubmatch(msg); m != nil {
		s := settings.of(m[1])
		return fmt.Errorf("%s must not be empty or zero (or the --%s flag)", s.env, s.flag)
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		s := settings.of(m[1])
		return fmt.Errorf("%s: want %s", s.given(m[2]), wantedValue(s.typ, m[3]))
	}
	if m := badFlagSyntax.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("malformed flag %q: write --name=value or --name value", m[1])
	}
	return errors.New(msg)
}

// setting is one configuration field as a person sets it.
type setting struct {
	env, flag string
	masked    bool
	typ       reflect.Type
}

type settingsByField map[string]setting

// of returns a field's setting; a field it does not know (none should) is named the way conf
// derives names, never by its Go name.
func (m settingsByField) of(field string) setting {
	if s, ok := m[field]; ok {
		return s
	}
	words := confWords(field)
	return setting{env: EnvPrefix + "_" + strings.ToUpper(strings.Join(words, "_")),
		flag: strings.ToLower(strings.Join(words, "-")), masked: true}
}

// given names where a bad value came from: the variable holding it, else the flag that gave it
// (conf reads the variable first, then the flags over it), else the field's default.
func (s setting) given(value string) string {
	shown := fmt.Sprintf("%q", value)
	if s.masked {
		shown = "(masked)"
	}
	if v, ok := os.LookupEnv(s.env); ok && v == value {
		return s.env + "=" + shown
	}
	for _, a := range os.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == s.flag {
			return "--" + s.flag + " " + shown
		}
	}
	return "the default of " + s.env + ", " + shown
}

// settingsOf reads each conf-tagged field's variable and flag as conf derives them: env: and
// flag: tags, else the Go name split into words (DatabaseURL: DATABASE_URL, --database-url),
// under the names of the structs it is nested in.
func settingsOf(cfg any) settingsByField {
	out := settingsByField{}
	var walk func(t reflect.Type, prefix []string)
	walk = func(t reflect.Type, prefix []string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for f := range t.Fields() {
			tag := f.Tag.Get("conf")
			if !f.IsExported() || tag == "-" {
				continue
			}
			key := append(slices.Clone(prefix), confWords(f.Name)...)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshalerType) {
				if f.Anonymous {
					walk(ft, prefix)
				} else {
					walk(ft, key)
				}
				continue
			}
			s := setting{env: strings.Join(key, "_"), flag: strings.Join(key, "-"), typ: f.Type}
			for opt := range strings.SplitSeq(tag, ",") {
				k, v, _ := strings.Cut(opt, ":")
				switch strings.TrimSpace(k) {
				case "env":
					s.env = strings.TrimSpace(v)
				case "flag":
					s.flag = strings.TrimSpace(v)
				case "mask":
					s.masked = true
				}
			}
			s.env = EnvPrefix + "_" + strings.ToUpper(s.env)
			s.flag = strings.ToLower(s.flag)
			out[f.Name] = s
		}
	}
	walk(reflect.TypeOf(cfg), nil)
	return out
}

var textUnmarshalerType = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()

// confWords splits a Go name into words as conf does for variable and flag names: at each
// change between lower case, upper case and digits, an upper-case run keeping its last letter
// for the next word (NatsNKeySeedFile: Nats N Key Seed File; TLSCAFile: TLSCA File).
func confWords(name string) []string {
	class := func(r rune) int { // Go names of settings are ASCII
		switch {
		case 'a' <= r && r <= 'z':
			return 0
		case 'A' <= r && r <= 'Z':
			return 1
		case '0' <= r && r <= '9':
			return 2
		}
		return 3
	}
	runes := []rune(name)
	if len(runes) < 2 {
		return []string{name}
	}
	var out []string
	last, start := class(runes[0]), 0
	for i, r := range runes {
		c := class(r)
		if c != last {
			if last == 1 && c != 2 {
				if i-start > 1 {
					out = append(out, string(runes[start:i-1]))
					start = i - 1
				}
			} else {
				out = append(out, string(runes[start:i]))
				start = i
			}
		}
		if i == len(runes)-1 {
			out = append(out, string(runes[start:]))
		}
		last = c
	}
	return out
}

// wantedValue says in a person's words what a setting of type t takes; details is the parser's
// own complaint, kept only for types this does not know.
func wantedValue(t reflect.Type, details string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "time" && t.Name() == "Duration" {
		return "a duration such as 30s, 5m or 1h30m"
	}
	if t.PkgPath() != "" && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		return "a valid value (" + details + ")"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Int8, reflect.Int16, reflect.Int32:
		limit := int64(1) << (t.Bits() - 1)
		return fmt.Sprintf("a whole number from %d to %d", -limit, limit-1)
	case reflect.Uint, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "values separated by semicolons, each " + wantedValue(t.Elem(), details)
	case reflect.Map:
		return "key:value pairs separated by semicolons, each key " + wantedValue(t.Key(), details) +
			" and each value " + wantedValue(t.Elem(), details)
	}
	return "a valid value (" + details + ")"
}

// EnvNames maps each field of a conf-tagged struct (by Go name) to its environment variable.
func EnvNames(cfg any) map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for f := range t.Fields() {
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			for opt := range strings.SplitSeq(f.Tag.Get("conf"), ",") {
				if env, ok := strings.CutPrefix(opt, "env:"); ok {
					out[f.Name] = EnvPrefix + "_" + env
				}
			}
		}
	}
	walk(reflect.TypeOf(cfg))
	return out
}

// peerAddrs reads ORGPLANE_PEERS entries, name=address (an address in a form rpc.ParseTarget
// reads).
func peerAddrs(entries []string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range entries {
		name, addr, ok := strings.Cut(strings.TrimSpace(e), "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("%s_PEERS: %q is not name=host:port", EnvPrefix, e)
		}
		if _, err := rpc.ParseTarget(addr); err != nil {
			return nil, fmt.Errorf("%s_PEERS: %s: %w", EnvPrefix, name, err)
		}
		out[name] = strings.TrimSpace(addr)
	}
	return out, nil
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
		c, ok := s.Commands[cmd]
		if !ok {
			return fmt.Errorf("unknown command %q (want serve, migrate, version%s)", cmd, commandNames(s))
		}
		if s.Config != nil {
			if err := ParseServiceConfig(s.Config); err != nil {
				return err
			}
		}
		pool, err := postgres.Open(ctx, s.DBConfig(cfg.DatabaseURL))
		if err != nil {
			return err
		}
		defer pool.Close()
		return c.Run(ctx, pool, log)
	}

	// Only serving signs and verifies tokens: the migration Job, which holds the DDL login, is
	// not given the keys as well.
	if cfg.IdentityKeys == "" {
		return fmt.Errorf("%s_IDENTITY_KEYS is required to serve (or the --identity-keys flag)", EnvPrefix)
	}
	keys, err := identity.ParseKeyring(cfg.IdentityKeys)
	if err != nil {
		return fmt.Errorf("%s_IDENTITY_KEYS: %w", EnvPrefix, err)
	}
	peers, err := peerAddrs(cfg.Peers)
	if err != nil {
		return err
	}
	tel, err := observability.Setup(ctx, "orgplane-"+s.Name, cfg.Version.Build)
	if err != nil {
		return err
	}
	log.Info("telemetry", "service", s.Name, "traces_exporter", tel.TracesExporter, "metrics_exporter", tel.MetricsExporter)
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
		return fmt.Errorf("listen %s (%s_GRPC_ADDR): %w", addr, EnvPrefix, err)
	}
	o := Options{Log: log, Keys: keys, DB: s.DBConfig(cfg.DatabaseURL), GRPC: lis, Metrics: tel.Metrics,
		Peers: peers}
	o.NATS = events.NATSConfig{URL: cfg.NatsURL, CredsFile: cfg.NatsCreds, NKeySeedFile: cfg.NatsNKeySeedFile,
		User: cfg.NatsUser, Password: cfg.NatsPassword, CAFile: cfg.NatsCAFile, CertFile: cfg.NatsCertFile, KeyFile: cfg.NatsKeyFile,
		StreamReplicas: cfg.NatsStreamReplicas}
	o.TLS = rpc.ServerTLS{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile}
	o.PeerTLS = rpc.ClientTLS{CAFile: cfg.TLSCAFile, CertFile: cfg.TLSClientCertFile, KeyFile: cfg.TLSClientKeyFile,
		ServerName: cfg.TLSServerName}
	if !cfg.DatabaseSetRole {
		o.DB.Role = ""
	}
	admin := cfg.AdminAddr
	if admin == "" {
		admin = s.DefaultAdminAddr
	}
	if admin != "off" {
		if o.Admin, err = net.Listen("tcp", admin); err != nil {
			return fmt.Errorf("listen %s (%s_ADMIN_ADDR): %w", admin, EnvPrefix, err)
		}
		log.Info("admin endpoint", "addr", o.Admin.Addr().String())
	}
	return Serve(ctx, s, o)
}

func commandNames(s Spec) string {
	names := make([]string, 0, len(s.Commands))
	for n := range s.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	out := ""
	for _, n := range names {
		out += ", " + n
	}
	return out
}
