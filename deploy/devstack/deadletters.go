package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/pkg/events"
)

// deadLetters is `devstack dead-letters`: it lists the events consumers set aside in the
// dead-letter stream (ORGPLANE_DLQ) of the running dev stack, with why, and with -replay
// publishes them again on their original subjects once the cause is fixed (docs/events.md).
// It connects with the dev stack's administrator credential; in production the same
// events.ReplayDeadLetters runs with an operator's credential.
func deadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devstack dead-letters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	consumer := fs.String("consumer", "", "only this consumer's dead letters, e.g. billing-usage (default: every consumer's)")
	replay := fs.Bool("replay", false, "publish them again on their original subjects and remove them from the dead-letter stream")
	stateDir := fs.String("state", envOr("ORGPLANE_DEV_STATE", ".run"), "the dev stack's state folder")
	natsURL := fs.String("nats", "nats://127.0.0.1:4322", "the dev stack's NATS server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	creds := filepath.Join(*stateDir, "nats", "creds", "admin.creds")
	if _, err := os.Stat(creds); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "devstack dead-letters: no administrator credential at %s; start the dev stack with make run\n", creds)
		return 1
	}
	nc, js, err := events.Connect(events.NATSConfig{URL: *natsURL, CredsFile: creds}, "devstack", slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, "devstack dead-letters:", err)
		return 1
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return runDeadLetters(ctx, js, *consumer, *replay, stdout, stderr)
}

func runDeadLetters(ctx context.Context, js jetstream.JetStream, consumer string, replay bool, stdout, stderr io.Writer) int {
	if replay {
		n, err := events.ReplayDeadLetters(ctx, js, consumer)
		fmt.Fprintf(stdout, "replayed %d dead letter(s)\n", n)
		if err != nil {
			fmt.Fprintln(stderr, "devstack dead-letters:", err)
			return 1
		}
		return 0
	}
	dls, err := events.ListDeadLetters(ctx, js, consumer)
	if err != nil {
		fmt.Fprintln(stderr, "devstack dead-letters:", err)
		return 1
	}
	if len(dls) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tWHEN\tCONSUMER\tREASON\tEVENT\tSUBJECT\tDETAIL")
	for _, d := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Sequence, d.At.UTC().Format(time.RFC3339), d.Consumer, d.Reason, d.EventID, d.Subject, d.Detail)
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\nreplay with: go run ./deploy/devstack dead-letters -replay%s\n", map[bool]string{true: " -consumer " + consumer, false: ""}[consumer != ""])
	return 0
}
