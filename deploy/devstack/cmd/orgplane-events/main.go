// Command orgplane-events watches one account's Orgplane events on NATS with that account's
// read-only credential and prints each one decoded: by default one JSON object per line
// (subject, type and the payload as protojson), or a readable block with -format text.
//
//	orgplane-events -creds contoso.creds [-server nats://127.0.0.1:4322] [-account <id>]
//	    [-subject 'orgplane.*.v1.<account>.>'] [-format json|text] [-n N]
//	orgplane-events -decode <subject> < payload    # the stock nats CLI's --translate command
//
// The tenant credential may only subscribe to its own account's subjects, live: it has no
// JetStream rights, so this command cannot replay what was published before it started
// (docs/events.md, "Watch your events").
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/version"

	// Every producer's event types, registered so that a message's type header resolves.
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	_ "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

const program = "orgplane-events"

// devStackNATS is where `make run` serves NATS; $NATS_URL, which the stock nats CLI reads too,
// overrides it.
const devStackNATS = "nats://127.0.0.1:4322"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	creds, server, account, subject, format string
	n                                       int
	// decode is the subject of one payload to read from stdin and decode, instead of watching.
	decode string
}

// parseFlags returns flag.ErrHelp after printing the usage on stdout for -help, and a sentence
// naming the flag for a bad value.
func parseFlags(args []string, stdout io.Writer) (options, bool, error) {
	var o options
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once by run; help goes to stdout
	fs.StringVar(&o.creds, "creds", "", "the account's read-only NATS credential (a .creds file; required)")
	server := devStackNATS
	if env := os.Getenv("NATS_URL"); env != "" {
		server = env
	}
	fs.StringVar(&o.server, "server", server, "NATS server URL; $NATS_URL, when set, replaces the default")
	fs.StringVar(&o.account, "account", "", "watch this account's events (default: the account the credential names)")
	fs.StringVar(&o.subject, "subject", "", "watch this subject instead, e.g. 'orgplane.org.v1.<account>.organization.>'")
	fs.StringVar(&o.format, "format", "json", "json: one JSON object per line; text: a readable block per event")
	fs.IntVar(&o.n, "n", 0, "exit after this many events (0: run until interrupted)")
	fs.StringVar(&o.decode, "decode", "", "instead of watching, decode the one payload on stdin published on this subject\n(for nats sub --translate 'orgplane-events -decode {{Subject}}')")
	showVersion := fs.Bool("version", false, "print the build and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: %s -creds FILE [flags]\n\nPrints an account's Orgplane events as they are published, decoded.\n\n", program)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return o, false, err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "version" {
		return o, true, nil
	}
	if fs.NArg() > 0 {
		return o, false, fmt.Errorf("unexpected argument %q (flags go before it; quote a subject given to -subject)", fs.Arg(0))
	}
	if *showVersion {
		return o, true, nil
	}
	switch {
	case o.format != "json" && o.format != "text":
		return o, false, fmt.Errorf("-format must be json or text, not %q", o.format)
	case o.decode != "":
		if _, ok := events.ParseSubject(o.decode); !ok {
			return o, false, fmt.Errorf("-decode %q is not an event subject (orgplane.<service>.v1.<account>.<entity>.<action>)", o.decode)
		}
		return o, false, nil
	case o.creds == "":
		return o, false, errors.New("-creds is required: the account's read-only credential (go run ./deploy/devstack nats-credential -account <id> -out contoso.creds mints one for the dev stack)")
	case o.n < 0:
		return o, false, fmt.Errorf("-n must be 0 or more, not %d", o.n)
	case o.account != "" && o.subject != "":
		return o, false, errors.New("give -account or -subject, not both (-subject already names the account)")
	}
	if o.account != "" {
		if _, err := events.TenantPermissions(o.account); err != nil {
			return o, false, fmt.Errorf("-account %q is not an account id (a lowercase UUID)", o.account)
		}
	}
	return o, false, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, showVersion, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n(%s -help lists the flags)\n", program, err, program)
		return 2
	}
	if showVersion {
		fmt.Fprintln(stdout, version.Get().String(program))
		return 0
	}
	if o.decode != "" {
		err = decodeOne(o, stdin, stdout)
	} else {
		err = watch(ctx, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	return 0
}

// credential is what a creds file's user JWT says about itself.
type credential struct {
	account string // from its account:<id> tag, as `devstack nats-credential` and nsc set it
	expires time.Time
}

func readCredential(path string) (credential, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return credential{}, fmt.Errorf("cannot read the credential: %w", err)
	}
	notCreds := func(err error) error {
		return fmt.Errorf("%s is not a NATS credential (a .creds file holding a user JWT and its key): %v", path, err)
	}
	token, err := jwt.ParseDecoratedJWT(raw)
	if err != nil {
		return credential{}, notCreds(err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return credential{}, notCreds(err)
	}
	if _, err := jwt.ParseDecoratedUserNKey(raw); err != nil {
		return credential{}, notCreds(err)
	}
	var c credential
	for _, tag := range uc.Tags {
		if a, ok := strings.CutPrefix(tag, "account:"); ok {
			c.account = a
		}
	}
	if uc.Expires > 0 {
		c.expires = time.Unix(uc.Expires, 0)
	}
	return c, nil
}

func watch(ctx context.Context, o options, stdout, stderr io.Writer) error {
	cred, err := readCredential(o.creds)
	if err != nil {
		return err
	}
	if !cred.expires.IsZero() && time.Now().After(cred.expires) {
		return fmt.Errorf("the credential %s expired on %s; ask for a new one", o.creds, cred.expires.Format(time.RFC3339))
	}
	subject := o.subject
	switch {
	case subject != "":
	case o.account != "":
		subject = events.TenantSubject(o.account)
	case cred.account != "":
		subject = events.TenantSubject(cred.account)
	default:
		return fmt.Errorf("the credential %s names no account (no account:<id> tag); give -account <id>", o.creds)
	}

	nc, err := nats.Connect(o.server,
		nats.UserCredentials(o.creds),
		nats.Name(program),
		// A refused subscription then comes back from NextMsg instead of only from a callback.
		nats.PermissionErrOnSubscribe(true),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				fmt.Fprintf(stderr, "%s: disconnected from NATS (%v); reconnecting, and events published meanwhile are missed\n", program, err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			fmt.Fprintf(stderr, "%s: reconnected to %s\n", program, nc.ConnectedUrlRedacted())
		}),
		// Without a handler nats.go prints its own line; a refusal reaches NextMsg and is said
		// once, in words, below.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	)
	if err != nil {
		return connectError(o, err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return fmt.Errorf("cannot subscribe to %q: %v", subject, err)
	}
	// The server answers a refused subscription before this round trip's reply, so a refusal
	// is known here, before "watching" promises anything.
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("NATS at %s: %v", nc.ConnectedUrlRedacted(), err)
	}
	if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		return refused(subject, cred)
	}
	fmt.Fprintf(stderr, "%s: watching %s on %s\n", program, subject, nc.ConnectedUrlRedacted())

	show := printJSON
	if o.format == "text" {
		show = printText
	}
	for seen := 0; o.n == 0 || seen < o.n; {
		msg, err := sub.NextMsgWithContext(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrSlowConsumer):
			fmt.Fprintf(stderr, "%s: fell behind; NATS dropped events for this subscription\n", program)
			continue
		case errors.Is(err, nats.ErrPermissionViolation):
			return refused(subject, cred)
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubscription):
			if last := nc.LastError(); last != nil {
				return fmt.Errorf("the connection to NATS closed: %v", last)
			}
			return errors.New("the connection to NATS closed")
		case err != nil:
			return err
		}
		if err := show(stdout, decode(msg)); err != nil {
			return err
		}
		seen++
	}
	return nil
}

func connectError(o options, err error) error {
	switch {
	case errors.Is(err, nats.ErrAuthorization), strings.Contains(strings.ToLower(err.Error()), "authorization violation"):
		return fmt.Errorf("NATS at %s refused the credential %s: it is expired or revoked, or was minted for another server (a dev stack's credentials work only with the stack whose -state minted them)", o.server, o.creds)
	case errors.Is(err, nats.ErrNoServers):
		return fmt.Errorf("cannot reach NATS at %s (%v); is the server (or `make run`) up, and is -server right?", o.server, err)
	}
	return fmt.Errorf("cannot connect to NATS at %s: %v", o.server, err)
}

func refused(subject string, cred credential) error {
	own := "orgplane.*.v1.<its account>.>"
	if cred.account != "" {
		own = events.TenantSubject(cred.account)
	}
	return fmt.Errorf("permission denied: the server refused the subscription to %s; this credential only allows its own account's subjects (%s)", subject, own)
}

// event is one decoded message: Payload when its type is known and the bytes are that type,
// otherwise PayloadBase64 and a Note saying why not.
type event struct {
	Subject       string          `json:"subject"`
	Type          string          `json:"type"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 string          `json:"payload_base64,omitempty"`
	Note          string          `json:"note,omitempty"`
}

// Field names as in the .proto files and the catalog of docs/events.md; every field shown, so
// an empty one reads as empty rather than missing.
var payloadJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func decode(msg *nats.Msg) event {
	ev := event{Subject: msg.Subject, Type: msg.Header.Get(events.HeaderEventType)}
	undecoded := func(note string) event {
		ev.PayloadBase64 = base64.StdEncoding.EncodeToString(msg.Data)
		ev.Note = note
		return ev
	}
	if ev.Type == "" {
		return undecoded("no " + events.HeaderEventType + " header, so the payload's type is unknown")
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(ev.Type))
	if err != nil {
		return undecoded(fmt.Sprintf("%s is not a type this %s knows (built before it existed?); the payload is that protobuf message, binary", ev.Type, program))
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(msg.Data, m); err != nil {
		return undecoded(fmt.Sprintf("the payload is not a valid %s: %v", ev.Type, err))
	}
	b, err := payloadJSON.Marshal(m)
	if err != nil {
		return undecoded(fmt.Sprintf("the payload cannot be shown as JSON: %v", err))
	}
	ev.Payload = b
	return ev
}

// typeOf is the type of the events published on subject, found among the registered event
// messages by their producer and (orgplane.events.v1.event) option, as the relay names them.
func typeOf(subject string) string {
	want, ok := events.ParseSubject(subject)
	if !ok {
		return ""
	}
	var found string
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		k, err := events.KindOf(mt.Zero().Interface())
		if err == nil && k.Stream.Prefix == want.Prefix && k.Entity == want.Entity && k.Action == want.Action {
			found = string(k.Type)
			return false
		}
		return true
	})
	return found
}

// decodeOne prints the payload on stdin, published on o.decode, as JSON: what the stock nats
// CLI shows in place of the raw bytes when it runs this as its --translate command.
func decodeOne(o options, stdin io.Reader, stdout io.Writer) error {
	typ := typeOf(o.decode)
	if typ == "" {
		return fmt.Errorf("%s is not the subject of an event this %s knows (built before it existed?)", o.decode, program)
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(o.decode)
	msg.Header.Set(events.HeaderEventType, typ)
	msg.Data = data
	ev := decode(msg)
	if ev.Payload == nil {
		return errors.New(ev.Note)
	}
	var b bytes.Buffer
	if o.format == "text" {
		err = json.Indent(&b, ev.Payload, "", "  ")
	} else {
		err = json.Compact(&b, ev.Payload)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b.Bytes())
	return err
}

func printJSON(w io.Writer, ev event) error {
	// encoding/json compacts the RawMessage payload, so each event stays on one line.
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func printText(w io.Writer, ev event) error {
	var body string
	if ev.Payload != nil {
		var indented strings.Builder
		b, _ := json.MarshalIndent(ev.Payload, "  ", "  ")
		indented.WriteString("  ")
		indented.Write(b)
		body = indented.String()
	} else {
		body = "  (" + ev.Note + ")\n  " + ev.PayloadBase64
	}
	_, err := fmt.Fprintf(w, "%s  %s\n%s\n\n", ev.Subject, ev.Type, body)
	return err
}
