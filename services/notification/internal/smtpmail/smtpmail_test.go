package smtpmail_test

import (
	"context"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/services/notification/internal/app"
	"github.com/orgplane/orgplane/services/notification/internal/smtpmail"
)

func TestConfigIsChecked(t *testing.T) {
	t.Parallel()
	for _, c := range []smtpmail.Config{
		{Addr: "mail.example.com", From: "a@example.com"},
		{Addr: "mail.example.com:0", From: "a@example.com"},
		{Addr: "mail.example.com:587", From: "not an address"},
		{Addr: "mail.example.com:587", From: "a@example.com", TLS: "sometimes"},
	} {
		if _, err := smtpmail.New(c); err == nil {
			t.Errorf("%+v was accepted", c)
		}
	}
}

func TestSendsABatchAndReportsAnUnreachableRelay(t *testing.T) {
	t.Parallel()
	sink, err := mailsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	s, err := smtpmail.New(smtpmail.Config{Addr: sink.Addr(), From: "Orgplane <noreply@orgplane.test>", TLS: "none",
		Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []app.Mail{
		{ID: "d1", To: "ann@example.test", Subject: "One", Text: "one", HTML: "<p>one</p>", UnsubscribeURL: "https://x.test/u?token=1"},
		{ID: "d2", To: "not an address", Subject: "Two", Text: "two"},
		{ID: "d3", To: "bob@example.test", Subject: "Three", Text: "three"},
	}
	errs, conn := s.Send(context.Background(), msgs)
	if conn != nil || len(errs) != 3 || errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errs %v, conn %v", errs, conn)
	}
	got := sink.Messages()
	if len(got) != 2 || got[0].Subject != "One" || got[1].Subject != "Three" {
		t.Fatalf("arrived %+v", got)
	}
	if id := got[0].Header["Message-Id"]; len(id) != 1 || id[0] != "<d1@orgplane.test>" {
		t.Errorf("Message-ID %v", id)
	}
	if u := got[0].Header["List-Unsubscribe"]; len(u) != 1 || u[0] != "<https://x.test/u?token=1>" {
		t.Errorf("List-Unsubscribe %v", u)
	}
	sink.Stop()
	if _, conn := s.Send(context.Background(), msgs[:1]); conn == nil {
		t.Fatal("a stopped relay was not reported as unreachable")
	}
}
