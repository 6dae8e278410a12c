package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"

	"github.com/orgplane/orgplane/deploy/devstack/grpctoken"
	"github.com/orgplane/orgplane/pkg/identity"
)

// token is `devstack token`: it prints an identity token a service accepts, for calling it
// directly with grpcurl (README, "Calling a service with grpcurl"). The keys are, first found:
// -keys-file, $ORGPLANE_IDENTITY_KEYS, the dev stack's own under -state. Against production,
// an operator points -keys-file at the identity key secret.
func token(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devstack token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin (every permission in -account), operator or service (required)")
	account := fs.String("account", "", "the account an admin acts in")
	service := fs.String("service", "org", "the service the token is for (its audience): org, mapping, integration-sync, notification or billing")
	as := fs.String("as", whoami(), "who is calling, as the services log and audit it; for -role service, the service acted as")
	userID := fs.String("user", "", "for -role admin: the id of the account's user the call acts as (per-user RPCs)")
	keysFile := fs.String("keys-file", "", "file with the identity keys: kid:base64key[,...] or an ORGPLANE_IDENTITY_KEYS= line")
	stateDir := fs.String("state", envOr("ORGPLANE_DEV_STATE", ".run"), "the dev stack's state folder, whose keys are used when no others are given")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devstack token: unexpected %q\n", fs.Arg(0))
		return 2
	}
	kr, err := tokenKeys(*keysFile, *stateDir)
	if err != nil {
		fmt.Fprintln(stderr, "devstack token:", err)
		return 1
	}
	tok, err := grpctoken.Mint(kr, grpctoken.Request{Service: *service, Role: grpctoken.Role(*role), Account: *account,
		As: *as, User: *userID})
	if err != nil {
		fmt.Fprintln(stderr, "devstack token: -"+err.Error())
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func tokenKeys(keysFile, stateDir string) (*identity.Keyring, error) {
	var src, content string
	switch {
	case keysFile != "":
		b, err := os.ReadFile(keysFile)
		if err != nil {
			return nil, fmt.Errorf("-keys-file: %w", err)
		}
		src, content = "-keys-file "+keysFile, string(b)
	case os.Getenv("ORGPLANE_IDENTITY_KEYS") != "":
		src, content = "ORGPLANE_IDENTITY_KEYS", os.Getenv("ORGPLANE_IDENTITY_KEYS")
	default:
		path := filepath.Join(stateDir, "dev-credentials")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			// Keys made up here would sign tokens that no running service accepts.
			return nil, fmt.Errorf("no dev stack keys in %s; start the dev stack once with make run, or give -keys-file", path)
		}
		if err != nil {
			return nil, err
		}
		src, content = path, string(b)
	}
	kr, err := grpctoken.KeysFrom(content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return kr, nil
}

func whoami() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}
