// Package natsserver runs in-process NATS servers with JetStream: the dev stack's broker and
// every test's, alone (Start) or as a cluster (StartCluster), whose nodes a test may also run as
// processes of their own, to kill one. It is the real server, not a fake, and it requires a
// credential of every client the way production NATS does (Auth).
package natsserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// Options configure a server.
type Options struct {
	// Dir holds the JetStream store; restarting on the same Dir and Auth brings the same
	// streams back.
	Dir string
	// Port is the client port on 127.0.0.1; 0 picks a free one.
	Port int
	// Auth decides who may connect and what each user may do; required.
	Auth *Auth
	// TLS, when set, serves TLS only; with VerifyClients the server also requires a client
	// certificate signed by TLS.ClientCAs.
	TLS           *tls.Config
	VerifyClients bool
}

// Start runs a JetStream-enabled server that refuses any client without a credential from
// o.Auth.
func Start(o Options) (*server.Server, error) {
	opts, err := o.serverOptions()
	if err != nil {
		return nil, err
	}
	opts.ServerName = "orgplane-embedded"
	return run(opts, o.Auth)
}

// serverOptions are the settings every embedded server shares, alone or in a cluster: loopback,
// JetStream on o.Dir, and o.Auth's operator as the only one trusted.
func (o Options) serverOptions() (*server.Options, error) {
	if o.Auth == nil {
		return nil, errors.New("nats server: an Auth is required; every connection is authenticated")
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(o.Auth.accountPub, o.Auth.accountJWT); err != nil {
		return nil, err
	}
	if err := resolver.Store(o.Auth.sysPub, o.Auth.sysJWT); err != nil {
		return nil, err
	}
	opts := &server.Options{
		Host:             "127.0.0.1",
		Port:             port,
		JetStream:        true,
		StoreDir:         o.Dir,
		NoSigs:           true,
		NoLog:            true,
		TrustedOperators: []*jwt.OperatorClaims{o.Auth.operatorClaims},
		AccountResolver:  resolver,
		SystemAccount:    o.Auth.sysPub,
	}
	if o.TLS != nil {
		cfg := o.TLS.Clone()
		if o.VerifyClients {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		opts.TLSConfig = cfg
		opts.TLS = true
		opts.TLSVerify = o.VerifyClients
		opts.TLSTimeout = 2
	}
	return opts, nil
}

// readyTimeout bounds a server's start.
const readyTimeout = 45 * time.Second

func run(opts *server.Options, auth *Auth) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	s.Start()
	// A restarted node recovers its JetStream store before it takes clients; on a loaded test
	// machine (make test runs packages side by side, under -race) that took over 10 s.
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server did not become ready in %s", readyTimeout)
	}
	// A server loads an account when it is first needed, and enabling JetStream for it creates
	// and removes its store folder: a stream created on the account meanwhile fails ("could not
	// create storage directory", "JetStream not enabled for account"). That happens to the first
	// stream a cluster places on a node, so every server loads the account before it is used.
	if _, err := s.LookupAccount(auth.accountPub); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("nats server: account %s: %w", AccountName, err)
	}
	return s, nil
}
