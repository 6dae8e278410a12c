package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/events"
)

// natsCredential is `devstack nats-credential`: it mints an account's read-only NATS credential
// (every producer's events of that account, live; no publishing) with the keys of the dev stack
// kept under -state, and writes the creds file the stock nats CLI takes. In production the
// platform team mints the same credential with nsc (docs/events.md).
func natsCredential(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devstack nats-credential", flag.ContinueOnError)
	fs.SetOutput(stderr)
	account := fs.String("account", "", "the account whose events the credential receives (required)")
	stateDir := fs.String("state", envOr("ORGPLANE_DEV_STATE", ".run"), "the dev stack's state folder")
	expires := fs.Duration("expires", 90*24*time.Hour, "how long the credential is valid (0: until the dev stack's keys change)")
	out := fs.String("out", "", "write the creds file here (mode 0600) instead of to stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *account == "" {
		fmt.Fprintln(stderr, "devstack nats-credential: -account is required")
		fs.Usage()
		return 2
	}
	natsDir := filepath.Join(*stateDir, "nats")
	// Minting from keys the running stack does not know would give a credential that never works.
	if _, err := os.Stat(filepath.Join(natsDir, "auth")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "devstack nats-credential: no dev stack NATS keys under %s; start it once with make run\n", natsDir)
		return 1
	}
	var until time.Time
	if *expires > 0 {
		until = time.Now().Add(*expires)
	}
	creds, err := stack.TenantCredential(natsDir, *account, until)
	if err != nil {
		fmt.Fprintln(stderr, "devstack nats-credential:", err)
		return 1
	}
	if *out == "" {
		_, _ = stdout.Write(creds)
		return 0
	}
	if err := os.WriteFile(*out, creds, 0o600); err != nil {
		fmt.Fprintln(stderr, "devstack nats-credential:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s; try:\n  nats sub --creds %s -s nats://127.0.0.1:4322 '%s'\n", *out, *out, events.TenantSubject(*account))
	return 0
}
