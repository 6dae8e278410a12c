package mailsink_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
)

func start(t *testing.T) *mailsink.Sink {
	t.Helper()
	s, err := mailsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func client(t *testing.T, s *mailsink.Sink, opts ...mail.Option) *mail.Client {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	c, err := mail.NewClient(host, append([]mail.Option{
		mail.WithPort(p), mail.WithTLSPolicy(mail.NoTLS), mail.WithTimeout(5 * time.Second),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(t *testing.T, subject string, to ...string) *mail.Msg {
	t.Helper()
	m := mail.NewMsg()
	if err := m.From("Orgplane <noreply@orgplane.test>"); err != nil {
		t.Fatal(err)
	}
	if err := m.To(to...); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetGenHeader("List-Unsubscribe", "<https://example.test/u?t=1>")
	m.SetBodyString(mail.TypeTextPlain, "Hello Ann,\nthe review is due on 31/12/2025.\n")
	m.AddAlternativeString(mail.TypeTextHTML, "<p>Hello <b>Ann</b>, the review is due on 31/12/2025.</p>")
	return m
}

func TestSendAndRead(t *testing.T) {
	t.Parallel()
	s := start(t)
	// Non-ASCII subject: the sink must decode the encoded word, as a mail reader would.
	if err := client(t, s).DialAndSend(message(t, "Neue Prüfung: Q4 (Acme)", "ann@example.test", "bob@example.test")); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	if len(ms) != 1 {
		t.Fatalf("got %d messages, want 1", len(ms))
	}
	m := ms[0]
	if m.Subject != "Neue Prüfung: Q4 (Acme)" {
		t.Errorf("subject %q", m.Subject)
	}
	if m.From != "noreply@orgplane.test" {
		t.Errorf("from %q", m.From)
	}
	if strings.Join(m.To, ",") != "ann@example.test,bob@example.test" {
		t.Errorf("to %v", m.To)
	}
	if !strings.Contains(m.Text, "due on 31/12/2025.") || strings.Contains(m.Text, "<p>") {
		t.Errorf("text %q", m.Text)
	}
	if !strings.Contains(m.HTML, "<b>Ann</b>") {
		t.Errorf("html %q", m.HTML)
	}
	if got := m.Header["List-Unsubscribe"]; len(got) != 1 || got[0] != "<https://example.test/u?t=1>" {
		t.Errorf("List-Unsubscribe %v", got)
	}
	if m.Received.IsZero() {
		t.Error("received time not set")
	}
	s.Reset()
	if n := len(s.Messages()); n != 0 {
		t.Errorf("after Reset: %d messages", n)
	}
}

func TestAcceptsAuthPlain(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := client(t, s, mail.WithSMTPAuth(mail.SMTPAuthPlainNoEnc), mail.WithUsername("u"), mail.WithPassword("p"))
	if err := c.DialAndSend(message(t, "with auth", "ann@example.test")); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("got %d messages, want 1", n)
	}
}

func TestStopAndRestartOnTheSamePort(t *testing.T) {
	t.Parallel()
	s := start(t)
	addr := s.Addr()
	if err := client(t, s).DialAndSend(message(t, "before", "ann@example.test")); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	c := client(t, s)
	if err := c.DialAndSendWithContext(context.Background(), message(t, "during", "ann@example.test")); err == nil {
		t.Fatal("sending to a stopped sink succeeded")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", s.Addr(), addr)
	}
	if err := client(t, s).DialAndSend(message(t, "after", "ann@example.test")); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range s.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if strings.Join(subjects, ",") != "before,after" {
		t.Fatalf("subjects %v", subjects)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := client(t, s)
	if err := c.DialAndSend(message(t, "first <one>", "ann@example.test"), message(t, "second", "bob@example.test")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	var got []mailsink.Message
	getJSON(t, srv.URL+"/api/messages", &got)
	if len(got) != 2 || got[0].Subject != "second" || got[1].Subject != "first <one>" {
		t.Fatalf("api/messages not newest first: %+v", got)
	}

	inbox := get(t, srv.URL+"/", http.StatusOK)
	if !strings.Contains(inbox, "first &lt;one&gt;") || strings.Index(inbox, "second") > strings.Index(inbox, "first &lt;one&gt;") {
		t.Errorf("inbox not escaped or not newest first:\n%s", inbox)
	}
	one := get(t, srv.URL+"/messages/"+strconv.Itoa(got[1].ID), http.StatusOK)
	if !strings.Contains(one, "due on 31/12/2025.") || !strings.Contains(one, "ann@example.test") {
		t.Errorf("message page lacks the body or recipient:\n%s", one)
	}
	if html := get(t, srv.URL+"/messages/"+strconv.Itoa(got[1].ID)+"/html", http.StatusOK); !strings.Contains(html, "<b>Ann</b>") {
		t.Errorf("html body %q", html)
	}
	get(t, srv.URL+"/messages/999", http.StatusNotFound)
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", url, res.StatusCode, want)
	}
	return string(b)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(get(t, url, http.StatusOK)), v); err != nil {
		t.Fatal(err)
	}
}
