package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. The relay republishes a batch
// whose acknowledgement it missed within seconds, well inside the window.
const DuplicateWindow = 2 * time.Minute

// NATSConfig is how a process reaches NATS: where, as whom, and over what. Services read it from
// ORGPLANE_NATS_* (pkg/platform); the dev stack and tests mint a credential per service.
// Production NATS requires a credential: a creds file (user JWT and NKey seed, as `nsc generate
// creds` writes it) is the one to prefer; an NKey seed or a user and password suit a server that
// lists its users in its own configuration.
type NATSConfig struct {
	// URL is one server, or several comma-separated (the nodes of a cluster); a client also
	// learns the other nodes from the server it reaches, so one reachable URL is enough to start.
	URL string
	// CredsFile is a .creds file: a user JWT and the NKey seed that signs the server's challenge.
	CredsFile string
	// NKeySeedFile is a file holding an NKey user seed (SU...).
	NKeySeedFile string
	// User and Password authenticate against a server's own user list.
	User, Password string
	// CAFile verifies the server's certificate and turns TLS on; CertFile and KeyFile present a
	// client certificate to a server that asks for one (verify or verify_and_map).
	CAFile, CertFile, KeyFile string
	// StreamReplicas is how many servers of a cluster keep each stream the process creates (its
	// own, and the dead-letter stream): 1 for a single server, 3 (or 5) for a cluster, where a
	// stream then survives the loss of 1 (or 2) of them. 0 means 1.
	StreamReplicas int
}

// MaxStreamReplicas is the most servers JetStream keeps one stream on.
const MaxStreamReplicas = 5

// envStreamReplicas is the setting StreamReplicas comes from, named in errors about it.
const envStreamReplicas = "ORGPLANE_NATS_STREAM_REPLICAS"

// options turns c into connection options, refusing contradictions (two credentials, half a
// client certificate) rather than picking one silently.
func (c NATSConfig) options() ([]nats.Option, error) {
	if c.StreamReplicas < 0 || c.StreamReplicas > MaxStreamReplicas {
		return nil, fmt.Errorf("nats: %s=%d: want 1 to %d, and at most the number of servers in the NATS cluster (docs/events.md)",
			envStreamReplicas, c.StreamReplicas, MaxStreamReplicas)
	}
	var opts []nats.Option
	creds := 0
	if c.CredsFile != "" {
		creds++
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeySeedFile != "" {
		creds++
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if c.User != "" || c.Password != "" {
		creds++
		if c.User == "" || c.Password == "" {
			return nil, errors.New("nats: a user needs a password and a password a user")
		}
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if creds > 1 {
		return nil, errors.New("nats: give one credential (creds file, nkey seed, or user and password), not several")
	}
	// Orgplane's NATS is never open: a service configured without a credential is a mistake
	// better reported now than retried for ever (or, against a server left open, not noticed).
	if creds == 0 && !strings.Contains(c.URL, "@") && c.CertFile == "" {
		return nil, errors.New("nats: no credential; set ORGPLANE_NATS_CREDS (or _NKEY_SEED_FILE, or _USER and _PASSWORD; docs/events.md)")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("nats: a client certificate needs both its certificate and its key file")
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	if c.CAFile != "" || c.CertFile != "" {
		opts = append(opts, nats.Secure())
	}
	return opts, nil
}

// credential names the kind of credential c holds, for the log; never its value.
func (c NATSConfig) credential() string {
	switch {
	case c.CredsFile != "":
		return "creds file " + c.CredsFile
	case c.NKeySeedFile != "":
		return "nkey seed file " + c.NKeySeedFile
	case c.User != "":
		return "user " + c.User
	case strings.Contains(c.URL, "@"):
		return "in the URL"
	default:
		return "none"
	}
}

// RedactURL hides the password a NATS URL may carry (nats://user:password@host), for logs and
// errors.
func RedactURL(raw string) string {
	var out []string
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || u.User == nil {
			if strings.Contains(one, "@") {
				out = append(out, "<redacted>")
				continue
			}
			out = append(out, one)
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			// A lone user part may be a token.
			u.User = url.User("xxxxx")
		}
		out = append(out, u.String())
	}
	return strings.Join(out, ",")
}

// InboxPrefix is where service's replies arrive (JetStream API answers, publish
// acknowledgements, pulled events). Each service has its own, so its credential lets it read its
// replies and no one else's.
func InboxPrefix(service string) string { return "_INBOX_" + service }

// Connect opens the NATS connection of service (its client name orgplane-<service>, its replies
// under InboxPrefix(service)) and keeps reconnecting for ever: the outbox holds events while NATS
// is away, so a service should ride out an outage rather than exit. Against a cluster the client
// picks its server at random among cfg.URL's and those the cluster announces, and when that node
// goes it moves to another at once; the jitter spreads the services' reconnections when a whole
// cluster comes back.
func Connect(cfg NATSConfig, service string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	auth, err := cfg.options()
	if err != nil {
		return nil, nil, err
	}
	refusals := &repeatFilter{every: 30 * time.Second}
	opts := append([]nats.Option{
		nats.Name("orgplane-" + service),
		nats.CustomInboxPrefix(InboxPrefix(service)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		// A refused credential stays refused until someone rotates it; keep trying so the
		// service recovers on its own once they have, and say so loudly meanwhile.
		nats.IgnoreAuthErrorAbort(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted(), "server", c.ConnectedServerName(), "cluster", c.ConnectedClusterName())
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("nats connected", "url", c.ConnectedUrlRedacted(), "server", c.ConnectedServerName(), "cluster", c.ConnectedClusterName())
		}),
		// A failed attempt comes every ReconnectWait while NATS is away or refuses the credential;
		// the same error is logged once per interval, a new one at once.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && refusals.first(err.Error()) {
				log.Warn("cannot connect to nats; retrying", "url", RedactURL(cfg.URL), "error", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			// Permission violations land here: a credential narrower than the service needs.
			log.Error("nats error", "subject", subject, "error", err)
		}),
	}, auth...)
	log.Info("connecting to nats", "url", RedactURL(cfg.URL), "credential", cfg.credential(),
		"tls", cfg.CAFile != "" || cfg.CertFile != "" || strings.HasPrefix(cfg.URL, "tls://"))
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats %s: %w", RedactURL(cfg.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// EnsureStreams creates or updates the given streams, each kept by one server.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, streams ...Stream) error {
	return EnsureReplicatedStreams(ctx, js, 1, streams...)
}

// EnsureReplicatedStreams creates or updates the given streams, each kept by replicas servers of
// the cluster (0 means 1). Events are kept a week so a consumer that was down for a while (or a
// new one) can catch up; Postgres, not NATS, is the source of truth. An existing stream is
// scaled to replicas, up or down: JetStream copies it onto the added servers while it keeps
// serving. A count the cluster cannot place is refused with the reason in the setting's words.
func EnsureReplicatedStreams(ctx context.Context, js jetstream.JetStream, replicas int, streams ...Stream) error {
	replicas, err := checkReplicas(replicas)
	if err != nil {
		return err
	}
	for _, s := range streams {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       s.Name,
			Subjects:   s.Subjects,
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     7 * 24 * time.Hour,
			Duplicates: DuplicateWindow,
			Replicas:   replicas,
		})
		if err != nil {
			return streamError(s.Name, replicas, err)
		}
	}
	return nil
}

func checkReplicas(n int) (int, error) {
	if n == 0 {
		return 1, nil
	}
	if n < 0 || n > MaxStreamReplicas {
		return 0, fmt.Errorf("stream replicas %d (%s): want 1 to %d", n, envStreamReplicas, MaxStreamReplicas)
	}
	return n, nil
}

// JetStream's answers to a replica count it cannot place (nats-server's JSStreamReplicasNotSupportedErr,
// JSClusterNoPeersErrF and JSInsufficientResourcesErr), which nats.go names no constants for.
const (
	errReplicasNotSupported jetstream.ErrorCode = 10074
	errNoPeers              jetstream.ErrorCode = 10005
	errInsufficient         jetstream.ErrorCode = 10023
)

// streamError explains JetStream's refusal to create or update stream with replicas copies: the
// server's own words ("no suitable peers for placement") do not say which setting to change.
func streamError(stream string, replicas int, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errReplicasNotSupported:
			return fmt.Errorf("stream %s: %s=%d, but NATS is a single server, which keeps one copy; set it to 1 or connect to a cluster: %w",
				stream, envStreamReplicas, replicas, err)
		case errNoPeers, errInsufficient:
			return fmt.Errorf("stream %s: %s=%d is more copies than the NATS cluster has JetStream servers up to place them on; "+
				"set it to at most the cluster's size, or bring its missing servers back: %w", stream, envStreamReplicas, replicas, err)
		}
	}
	return fmt.Errorf("stream %s: %w", stream, err)
}

// repeatFilter passes a message the first time, and again once every interval or when it
// changes.
type repeatFilter struct {
	mu    sync.Mutex
	every time.Duration
	last  string
	at    time.Time
}

func (f *repeatFilter) first(msg string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if msg == f.last && time.Since(f.at) < f.every {
		return false
	}
	f.last, f.at = msg, time.Now()
	return true
}
