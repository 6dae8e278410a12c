// Package smtpmail sends the service's emails over SMTP with github.com/wneessen/go-mail: one
// connection per batch, STARTTLS, implicit TLS or none, and AUTH PLAIN when credentials are set.
package smtpmail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/orgplane/orgplane/services/notification/internal/app"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// Config says how to reach the relay.
type Config struct {
	// Addr is host:port.
	Addr     string
	Username string
	Password string
	// From is the sender, an address with an optional name ("Orgplane <noreply@example.com>").
	From string
	// TLS is starttls (the default: the session must be upgraded), tls (implicit TLS, usually
	// port 465) or none (development relays only).
	TLS string
	// Timeout bounds one connection's dial and each command; 0 means 30 s.
	Timeout time.Duration
}

// Sender sends emails with one relay.
type Sender struct {
	client *gomail.Client
	from   *mail.Address
	domain string
}

// New checks cfg and returns its Sender; it does not connect.
func New(cfg Config) (*Sender, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: want host:port", cfg.Addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("SMTP address %q: bad port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("SMTP from address %q: %w", cfg.From, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(timeout)}
	mode := strings.ToLower(strings.TrimSpace(cfg.TLS))
	switch mode {
	case "", TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("SMTP TLS mode %q: want starttls, tls or none", cfg.TLS)
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		if mode == TLSNone {
			// The operator chose a relay without TLS; go-mail refuses PLAIN in the clear otherwise.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Sender{client: c, from: from, domain: domain}, nil
}

// Send sends msgs over one connection. connErr is set when none could be tried (the relay
// unreachable, or refusing the session: TLS, authentication); otherwise errs holds each
// message's outcome, nil when the relay accepted it.
func (s *Sender) Send(ctx context.Context, msgs []app.Mail) (errs []error, connErr error) {
	built := make([]*gomail.Msg, len(msgs))
	errs = make([]error, len(msgs))
	var ready []*gomail.Msg
	for i, m := range msgs {
		gm, err := s.build(m)
		if err != nil {
			errs[i] = fmt.Errorf("%w: %v", app.ErrRecipientRefused, err)
			continue
		}
		built[i] = gm
		ready = append(ready, gm)
	}
	if len(ready) == 0 {
		return errs, nil
	}
	client, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, err
	}
	sendErr := s.client.SendWithSMTPClient(client, ready...)
	_ = s.client.CloseWithSMTPClient(client)
	for i, gm := range built {
		if gm == nil {
			continue
		}
		if gm.HasSendError() {
			errs[i] = classify(gm.SendError())
		}
	}
	var se *gomail.SendError
	if errors.As(sendErr, &se) && se.Reason == gomail.ErrConnCheck {
		// The session broke before any message: none was sent.
		for i, gm := range built {
			if gm != nil && errs[i] == nil {
				errs[i] = sendErr
			}
		}
	}
	return errs, nil
}

// classify marks a recipient the relay refused for good (5xx to RCPT TO): retrying it cannot help.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && !se.IsTemp() && se.ErrorCode() >= 500 {
		return fmt.Errorf("%w: %v", app.ErrRecipientRefused, err)
	}
	return err
}

func (s *Sender) build(m app.Mail) (*gomail.Msg, error) {
	gm := gomail.NewMsg()
	gm.FromMailAddress(s.from)
	if err := gm.To(m.To); err != nil {
		return nil, err
	}
	gm.Subject(m.Subject)
	gm.SetMessageIDWithValue(m.ID + "@" + s.domain)
	gm.SetDate()
	// RFC 3834: no vacation replies to a machine's mail.
	gm.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if m.UnsubscribeURL != "" {
		// RFC 8058 one-click unsubscribe: mail clients POST to the URL.
		gm.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+m.UnsubscribeURL+">")
		gm.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	gm.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return gm, nil
}
