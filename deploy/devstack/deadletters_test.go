package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// `devstack dead-letters` lists a dead letter with its consumer and reason, and -replay puts it
// back on its original subject (where the consumers apply it; pkg/events tests that part) and
// out of the dead-letter stream.
func TestDeadLettersCommandListsAndReplays(t *testing.T) {
	ns := testkit.StartNATS(t)
	nc, js, err := events.Connect(ns.Admin(), "devstack", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	streams, _ := events.StreamsOf(&orgv1.AccountCreated{})
	if err := events.EnsureStreams(ctx, js, streams...); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureDeadLetterStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	const account, eventID = "3f2c9a4e-0d1b-4c55-9a8e-1b2c3d4e5f60", "9b3c4d5e-0000-4000-8000-000000000001"
	subject := "orgplane.org.v1." + account + ".account.created"
	dl := nats.NewMsg(events.DeadLetterSubject("billing-usage", "permanent"))
	dl.Data = []byte("payload")
	dl.Header.Set(events.HeaderEventID, eventID)
	dl.Header.Set(events.HeaderAccountID, account)
	dl.Header.Set(events.HeaderEventType, "orgplane.org.v1.AccountCreated")
	dl.Header.Set(events.HeaderDeadReason, "permanent")
	dl.Header.Set(events.HeaderDeadDetail, "plan not found")
	dl.Header.Set(events.HeaderDeadConsumer, "billing-usage")
	dl.Header.Set(events.HeaderDeadSubject, subject)
	if _, err := js.PublishMsg(ctx, dl); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := runDeadLetters(ctx, js, "", false, &out, &errOut); code != 0 {
		t.Fatalf("list: %d %s", code, errOut.String())
	}
	for _, want := range []string{"billing-usage", "permanent", eventID, subject, "plan not found", "dead-letters -replay"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := runDeadLetters(ctx, js, "billing-usage", true, &out, &errOut); code != 0 || !strings.Contains(out.String(), "replayed 1") {
		t.Fatalf("replay: %d %s %s", code, out.String(), errOut.String())
	}
	stream, err := js.Stream(ctx, "ORGPLANE_ORG")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatalf("replayed event not on %s: %v", subject, err)
	}
	if msg.Header.Get(events.HeaderEventID) != eventID || string(msg.Data) != "payload" || msg.Header.Get(events.HeaderDeadReason) != "" {
		t.Errorf("replayed event: headers %v data %q", msg.Header, msg.Data)
	}
	if left, err := events.ListDeadLetters(ctx, js, ""); err != nil || len(left) != 0 {
		t.Errorf("after the replay: %v %v, want no dead letters", left, err)
	}
}
