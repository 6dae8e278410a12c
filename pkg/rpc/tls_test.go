package rpc_test

import (
	"context"
	"log/slog"
	"math/big"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/pkg/rpc/rpctest"
)

var quiet = slog.New(slog.DiscardHandler)

// startTLS serves the scripted AccountService over TLS from s.
func startTLS(t *testing.T, keys *identity.Keyring, s rpc.ServerTLS, opts ...grpc.ServerOption) (string, *scripted) {
	t.Helper()
	creds, err := s.ServerOption(quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewServer(quiet, keys, append(opts, creds)...)
	if err != nil {
		t.Fatal(err)
	}
	impl := &scripted{seen: make(chan identity.Identity, 10)}
	orgv1.RegisterAccountServiceServer(srv, impl)
	return testkit.ServeGRPC(t, srv), impl
}

// dialTLS connects with c (the zero value: plaintext).
func dialTLS(t *testing.T, addr string, keys *identity.Keyring, c rpc.ClientTLS, opts ...grpc.DialOption) orgv1.AccountServiceClient {
	t.Helper()
	transport, err := c.DialOption(quiet)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(addr, keys, append(opts, transport)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return orgv1.NewAccountServiceClient(conn)
}

// servedSerial makes a call and returns the serial number of the certificate the server showed.
func servedSerial(t *testing.T, c orgv1.AccountServiceClient) *big.Int {
	t.Helper()
	var p peer.Peer
	_, err := c.CreateAccount(identity.With(context.Background(), operator), &orgv1.CreateAccountRequest{
		Account:       &orgv1.Account{DisplayName: "Contoso"},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"},
	}, grpc.Peer(&p))
	if err != nil {
		t.Fatalf("call over TLS: %v", err)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		t.Fatalf("connection is not TLS: %T", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber
}

// rawConn is a plaintext connection with none of the suite's client interceptors: what an
// attacker holding a captured token would use.
func rawConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestTLSServesTrustingClientsAndRefusesOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "orgplane test CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	server := ca.Issue(t, "org", "org", "127.0.0.1")
	files := server.Write(t, dir, "org")
	keys := testkit.Keyring(t)
	addr, impl := startTLS(t, keys, rpc.ServerTLS{CertFile: files.CertFile, KeyFile: files.KeyFile})

	if got := servedSerial(t, dialTLS(t, addr, keys, rpc.ClientTLS{CAFile: caFile})); got.Cmp(server.Serial) != 0 {
		t.Fatalf("served serial %v, want %v", got, server.Serial)
	}
	<-impl.seen

	otherCA := rpctest.NewCA(t, "someone else's CA")
	otherCAFile := filepath.Join(dir, "other-ca.crt")
	rpctest.WriteFile(t, otherCAFile, otherCA.PEM)
	for name, c := range map[string]rpc.ClientTLS{
		"plaintext":                  {},
		"a CA that did not sign it":  {CAFile: otherCAFile},
		"a name it was not made for": {CAFile: caFile, ServerName: "billing"},
	} {
		t.Run(name, func(t *testing.T) {
			client := dialTLS(t, addr, keys, c)
			if err := create(client, identity.With(context.Background(), operator), "Contoso"); status.Code(err) != codes.Unavailable {
				t.Fatalf("call: %v, want Unavailable (no connection)", err)
			}
			select {
			case id := <-impl.seen:
				t.Fatalf("the handler ran for %+v", id)
			default:
			}
		})
	}
	// Probes and discovery are open, not plaintext: they go over TLS like everything else.
	conn := rawConn(t, addr)
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext health check: %v, want Unavailable", err)
	}
}

func TestMutualTLSRefusesClientsWithoutACertificateFromItsCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "orgplane test CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	files := ca.Issue(t, "org", "127.0.0.1").Write(t, dir, "org")
	keys := testkit.Keyring(t)
	addr, impl := startTLS(t, keys, rpc.ServerTLS{CertFile: files.CertFile, KeyFile: files.KeyFile, ClientCAFile: caFile})

	gateway := ca.Issue(t, "gateway", "gateway").Write(t, dir, "gateway")
	stranger := rpctest.NewCA(t, "stranger CA").Issue(t, "gateway", "gateway").Write(t, dir, "stranger")
	for name, c := range map[string]rpc.ClientTLS{
		"no client certificate":             {CAFile: caFile},
		"a certificate from another CA":     {CAFile: caFile, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile},
		"plaintext with nothing to present": {},
	} {
		t.Run(name, func(t *testing.T) {
			err := create(dialTLS(t, addr, keys, c), identity.With(context.Background(), operator), "Contoso")
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("call: %v, want Unavailable (handshake refused)", err)
			}
			select {
			case id := <-impl.seen:
				t.Fatalf("the handler ran for %+v", id)
			default:
			}
		})
	}
	client := dialTLS(t, addr, keys, rpc.ClientTLS{CAFile: caFile, CertFile: gateway.CertFile, KeyFile: gateway.KeyFile})
	if err := create(client, identity.With(context.Background(), operator), "Contoso"); err != nil {
		t.Fatalf("a client with a certificate from the CA: %v", err)
	}
}

func TestRotatedCertificatesAreUsedWithoutARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "first CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	first := ca.Issue(t, "org", "127.0.0.1")
	files := first.Write(t, dir, "org")
	keys := testkit.Keyring(t)
	addr, _ := startTLS(t, keys, rpc.ServerTLS{CertFile: files.CertFile, KeyFile: files.KeyFile})
	// One transport for every connection, as a process has: its CA file is re-read too.
	transport, err := rpc.ClientTLS{CAFile: caFile}.DialOption(quiet)
	if err != nil {
		t.Fatal(err)
	}
	connect := func() orgv1.AccountServiceClient {
		conn, err := rpc.Dial(addr, keys, transport)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return orgv1.NewAccountServiceClient(conn)
	}
	old := connect()
	if got := servedSerial(t, old); got.Cmp(first.Serial) != 0 {
		t.Fatalf("serial %v, want the first certificate's %v", got, first.Serial)
	}

	// cert-manager renews: same files, new certificate.
	second := ca.Issue(t, "org", "127.0.0.1")
	second.Write(t, dir, "org")
	if got := servedSerial(t, connect()); got.Cmp(second.Serial) != 0 {
		t.Fatalf("after rotation a new connection got serial %v, want the renewed %v", got, second.Serial)
	}
	if got := servedSerial(t, old); got.Cmp(first.Serial) != 0 {
		t.Fatalf("an established connection changed certificate: %v", got)
	}

	// A rotation caught half way (the key not yet written) keeps the working pair.
	rpctest.WriteFile(t, files.CertFile, ca.Issue(t, "org", "127.0.0.1").CertPEM)
	if got := servedSerial(t, connect()); got.Cmp(second.Serial) != 0 {
		t.Fatalf("with a mismatched pair on disk, served %v, want the previous %v", got, second.Serial)
	}
	rpctest.WriteFile(t, files.CertFile, []byte("-----BEGIN CERT"))
	if got := servedSerial(t, connect()); got.Cmp(second.Serial) != 0 {
		t.Fatalf("with a truncated certificate on disk, served %v, want the previous %v", got, second.Serial)
	}

	// The CA itself rotates: clients get the new CA bundle, then the server a certificate from it.
	next := rpctest.NewCA(t, "next CA")
	rpctest.WriteFile(t, caFile, append(append([]byte{}, ca.PEM...), next.PEM...))
	third := next.Issue(t, "org", "127.0.0.1")
	third.Write(t, dir, "org")
	if got := servedSerial(t, connect()); got.Cmp(third.Serial) != 0 {
		t.Fatalf("after the CA rotation served %v, want %v", got, third.Serial)
	}
}

func TestTLSSettingsThatCannotWorkAreRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	f := ca.Issue(t, "org", "127.0.0.1").Write(t, dir, "org")
	missing := filepath.Join(dir, "missing.pem")
	for name, s := range map[string]rpc.ServerTLS{
		"certificate without key": {CertFile: f.CertFile},
		"client CA only":          {ClientCAFile: caFile},
		"missing file":            {CertFile: missing, KeyFile: f.KeyFile},
		"key of another pair":     {CertFile: f.CertFile, KeyFile: ca.Issue(t, "x").Write(t, dir, "x").KeyFile},
		"client CA not PEM":       {CertFile: f.CertFile, KeyFile: f.KeyFile, ClientCAFile: f.KeyFile},
	} {
		if _, err := s.ServerOption(quiet); err == nil {
			t.Errorf("server %s: accepted", name)
		}
	}
	for name, c := range map[string]rpc.ClientTLS{
		"certificate without key": {CAFile: caFile, CertFile: f.CertFile},
		"missing CA":              {CAFile: missing},
		"CA not PEM":              {CAFile: f.KeyFile},
	} {
		if _, err := c.DialOption(quiet); err == nil {
			t.Errorf("client %s: accepted", name)
		}
	}
}

// Every service verifies that a token was signed for it: a token the gateway minted for org, or
// one billing sent to org, is worth nothing at any other service.
func TestIdentityTokensAreForOneService(t *testing.T) {
	t.Parallel()
	keys := testkit.Keyring(t)
	services := []string{"org", "mapping", "integration-sync", "notification", "billing"}
	ctx := identity.With(context.Background(), operator)
	for _, server := range services {
		srv, err := rpc.NewServer(quiet, keys, rpc.ServiceName(server))
		if err != nil {
			t.Fatal(err)
		}
		impl := &scripted{seen: make(chan identity.Identity, 10)}
		orgv1.RegisterAccountServiceServer(srv, impl)
		addr := testkit.ServeGRPC(t, srv)
		for _, caller := range append(services, "") {
			var opts []grpc.DialOption
			if caller != "" {
				opts = append(opts, rpc.Audience(caller))
			}
			err := create(dialTLS(t, addr, keys, rpc.ClientTLS{}, opts...), ctx, "Contoso")
			switch {
			case caller == server && err != nil:
				t.Errorf("%s refused a token for itself: %v", server, err)
			case caller != server && status.Code(err) != codes.Unauthenticated:
				t.Errorf("%s accepted a token for %q: %v", server, caller, err)
			}
		}
		// Replayed by hand, as someone who captured a token would.
		raw := orgv1.NewAccountServiceClient(rawConn(t, addr))
		for _, other := range services {
			tok, err := keys.SignFor(operator, other)
			if err != nil {
				t.Fatal(err)
			}
			rctx := metadata.AppendToOutgoingContext(context.Background(), identity.MetadataKey, tok)
			_, err = raw.CreateAccount(rctx, &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: "Contoso"},
				Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}})
			if got := status.Code(err); (other == server) != (got == codes.OK) || (other != server && got != codes.Unauthenticated) {
				t.Errorf("token for %s replayed to %s: %v", other, server, err)
			}
		}
	}
	// A server that names no service does not take a named service's token either.
	srv, err := rpc.NewServer(quiet, keys)
	if err != nil {
		t.Fatal(err)
	}
	orgv1.RegisterAccountServiceServer(srv, &scripted{seen: make(chan identity.Identity, 10)})
	addr := testkit.ServeGRPC(t, srv)
	if err := create(dialTLS(t, addr, keys, rpc.ClientTLS{}, rpc.Audience("org")), ctx, "Contoso"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("unnamed server accepted a token for org: %v", err)
	}
	if _, err := rpc.NewServer(quiet, keys, rpc.ServiceName("")); err == nil {
		t.Error("an empty service name was accepted")
	}
	if _, err := rpc.Dial(addr, keys, rpc.Audience("")); err == nil {
		t.Error("an empty audience was accepted")
	}
}
