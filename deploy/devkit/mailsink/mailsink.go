// Package mailsink is a real SMTP server that keeps every message it receives in memory, for tests
// and the dev stack: services send to it exactly as they would to a relay, and tests (or a person,
// through Handler's web inbox) read what arrived. It needs no authentication but accepts AUTH PLAIN
// when a client offers it, and speaks no TLS, so it is for development only.
package mailsink

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message as the sink received it.
type Message struct {
	// ID numbers messages in arrival order, from 1; stable across Reset.
	ID int `json:"id"`
	// From is the envelope sender (MAIL FROM).
	From string `json:"from"`
	// To are the envelope recipients (RCPT TO).
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	// Text and HTML are the decoded plain-text and HTML bodies (empty when the message has none).
	Text   string              `json:"text"`
	HTML   string              `json:"html"`
	Header map[string][]string `json:"header"`
	// Raw is the message as it came over the wire.
	Raw      string    `json:"-"`
	Received time.Time `json:"received"`
}

// Sink is a running SMTP server with the messages it has received.
type Sink struct {
	mu       sync.Mutex
	addr     string
	server   *smtp.Server
	done     chan struct{}
	messages []Message
	nextID   int
	// changed is closed and replaced whenever a message arrives, so waiters need no polling.
	changed chan struct{}
}

// Start listens on addr (":0" or "127.0.0.1:0" picks a free port) and serves SMTP until Stop.
func Start(addr string) (*Sink, error) {
	s := &Sink{changed: make(chan struct{})}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sink) listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mailsink: listen on %s: %w", addr, err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = "mailsink.localhost"
	// AUTH without TLS: the sink has no certificate and clients configured with credentials
	// (as production ones are) must still get through.
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	s.mu.Lock()
	s.addr = l.Addr().String()
	s.server = srv
	s.done = done
	s.mu.Unlock()
	return nil
}

// Addr is host:port the sink listens on (also after Stop, so Restart can take it again).
func (s *Sink) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop closes the listener and every open connection: clients see the outage at once. Received
// messages are kept. Stopping a stopped sink does nothing.
func (s *Sink) Stop() {
	s.mu.Lock()
	srv, done := s.server, s.done
	s.server = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// Restart stops the sink if it runs and listens again on the same address, keeping the messages.
// It retries briefly: the port may linger for a moment after Stop.
func (s *Sink) Restart() error {
	s.Stop()
	addr := s.Addr()
	var err error
	for i := 0; i < 50; i++ {
		if err = s.listen(addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Messages returns a copy of what arrived, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	copy(out, s.messages)
	return out
}

// Reset forgets every message received so far.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
}

// Changed returns a channel closed when the next message arrives (for waiting without polling).
func (s *Sink) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Sink) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	m.ID = s.nextID
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Sink) message(id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// session is one SMTP transaction's state.
type session struct {
	sink *Sink
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (*session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (*session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	// Any credentials: the sink stands in for a relay, it guards nothing.
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := parse(raw)
	m.From = ss.from
	m.To = append([]string(nil), ss.to...)
	m.Received = time.Now()
	ss.sink.add(m)
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (*session) Logout() error { return nil }

// parse reads what a test wants from a raw message. A message it cannot parse is still kept, with
// its raw text, so a broken sender shows up in the inbox rather than vanishing.
func parse(raw []byte) Message {
	m := Message{Raw: string(raw), Header: map[string][]string{}}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.Text = string(raw)
		return m
	}
	for k, v := range msg.Header {
		m.Header[k] = v
	}
	dec := new(mime.WordDecoder)
	m.Subject = msg.Header.Get("Subject")
	if s, err := dec.DecodeHeader(m.Subject); err == nil {
		m.Subject = s
	}
	walk(&m, header(msg.Header), msg.Body)
	return m
}

// header adapts a header map to the part reader's lookups.
type header map[string][]string

func (h header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// walk descends a MIME tree and keeps the first text/plain and text/html leaves (not attachments).
func walk(m *Message, h header, body io.Reader) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walk(m, header(p.Header), p)
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = string(b)
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = string(b)
		}
	}
}
