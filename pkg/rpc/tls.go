package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ServerTLS names the PEM files a gRPC server's TLS comes from. They are read again on every new
// connection and a change is served from then on, without a restart: cert-manager and meshes
// rotate certificates by rewriting these files. The zero value serves plaintext.
type ServerTLS struct {
	// CertFile and KeyFile are the server's certificate (chain) and private key.
	CertFile, KeyFile string
	// ClientCAFile, when set, turns on mutual TLS: a client must present a certificate signed by
	// one of these CAs, or the connection is refused before any call.
	ClientCAFile string
}

// Enabled reports whether s asks for TLS at all.
func (s ServerTLS) Enabled() bool { return s != ServerTLS{} }

// ServerOption returns the transport for a server: TLS from s's files, or plaintext when s is
// the zero value. A missing or unreadable file is an error now; later, a rotation that cannot be
// read (a half-written file) keeps the previous certificate and is logged on log.
func (s ServerTLS) ServerOption(log *slog.Logger) (grpc.ServerOption, error) {
	if !s.Enabled() {
		return grpc.Creds(insecure.NewCredentials()), nil
	}
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("server TLS needs both a certificate file and a key file")
	}
	files := []string{s.CertFile, s.KeyFile}
	if s.ClientCAFile != "" {
		files = append(files, s.ClientCAFile)
	}
	r, err := newReloader(log, files, func(pem [][]byte) (*tls.Config, error) {
		cert, err := tls.X509KeyPair(pem[0], pem[1])
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", s.CertFile, s.KeyFile, err)
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		if s.ClientCAFile != "" {
			if cfg.ClientCAs, err = certPool(s.ClientCAFile, pem[2]); err != nil {
				return nil, err
			}
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return cfg, nil
	})
	if err != nil {
		return nil, err
	}
	return grpc.Creds(&reloadingCreds{config: r}), nil
}

// ClientTLS is how a client (the gateway, a service calling a peer) reaches servers over TLS.
// Its files are read again on every new connection, like ServerTLS's. The zero value dials
// plaintext.
type ClientTLS struct {
	// CAFile holds the CAs that sign servers' certificates; empty uses the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key, for servers that require
	// mutual TLS.
	CertFile, KeyFile string
	// ServerName, when set, is the name expected in every server's certificate instead of the
	// host of the address dialed.
	ServerName string
}

// Enabled reports whether c asks for TLS at all.
func (c ClientTLS) Enabled() bool { return c != ClientTLS{} }

// DialOption returns the transport for connections: TLS as c says, or plaintext when c is the
// zero value. One option may serve every connection of a process; its files are shared.
func (c ClientTLS) DialOption(log *slog.Logger) (grpc.DialOption, error) {
	if !c.Enabled() {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("client TLS needs both a certificate file and a key file, or neither")
	}
	var files []string
	if c.CAFile != "" {
		files = append(files, c.CAFile)
	}
	if c.CertFile != "" {
		files = append(files, c.CertFile, c.KeyFile)
	}
	r, err := newReloader(log, files, func(pem [][]byte) (*tls.Config, error) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: c.ServerName}
		if c.CAFile != "" {
			pool, err := certPool(c.CAFile, pem[0])
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = pool
			pem = pem[1:]
		}
		if c.CertFile != "" {
			cert, err := tls.X509KeyPair(pem[0], pem[1])
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", c.CertFile, c.KeyFile, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return cfg, nil
	})
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(&reloadingCreds{config: r, serverName: c.ServerName}), nil
}

func certPool(path string, pem []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// reloader keeps a TLS configuration built from files up to date with them. It compares the
// files' bytes, not their times: a rewrite within the file system's timestamp granularity, or a
// Kubernetes secret volume swapping its symlink, both count.
type reloader struct {
	log   *slog.Logger
	files []string
	build func(pem [][]byte) (*tls.Config, error)

	mu        sync.Mutex
	pem       [][]byte
	cfg       *tls.Config
	lastError string
}

func newReloader(log *slog.Logger, files []string, build func([][]byte) (*tls.Config, error)) (*reloader, error) {
	r := &reloader{log: log, files: files, build: build}
	pem, err := r.read()
	if err != nil {
		return nil, err
	}
	if r.cfg, err = build(pem); err != nil {
		return nil, err
	}
	r.pem = pem
	return r, nil
}

func (r *reloader) read() ([][]byte, error) {
	out := make([][]byte, len(r.files))
	for i, f := range r.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// config returns the configuration for a new connection. A change that cannot be used (a file
// missing or half written in the middle of a rotation) keeps the previous configuration: the
// next connection tries again.
func (r *reloader) config() *tls.Config {
	pem, err := r.read()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && equalAll(pem, r.pem) {
		return r.cfg
	}
	var cfg *tls.Config
	if err == nil {
		cfg, err = r.build(pem)
	}
	if err != nil {
		if err.Error() != r.lastError {
			r.lastError = err.Error()
			r.log.Warn("TLS files changed but cannot be used; keeping the previous ones", "files", r.files, "error", err)
		}
		return r.cfg
	}
	r.cfg, r.pem, r.lastError = cfg, pem, ""
	args := []any{"files", r.files}
	if len(cfg.Certificates) > 0 && cfg.Certificates[0].Leaf != nil {
		args = append(args, "not_after", cfg.Certificates[0].Leaf.NotAfter)
	}
	r.log.Info("TLS files reloaded", args...)
	return cfg
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// reloadingCreds is gRPC's TLS transport with the configuration fetched at each handshake.
// Delegating to credentials.NewTLS keeps what gRPC adds to a plain tls.Config (ALPN "h2", the
// server name from the dialed authority, the auth info handlers read).
type reloadingCreds struct {
	config     *reloader
	serverName string
}

func (c *reloadingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg := c.config.config()
	if c.serverName != "" && cfg.ServerName != c.serverName {
		cfg = cfg.Clone()
		cfg.ServerName = c.serverName
	}
	return credentials.NewTLS(cfg).ClientHandshake(ctx, authority, raw)
}

func (c *reloadingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.config.config()).ServerHandshake(raw)
}

func (c *reloadingCreds) Info() credentials.ProtocolInfo {
	//lint:ignore SA1019 grpc still reads ServerName as the channel's authority override, which ORGPLANE_TLS_SERVER_NAME relies on
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2", ServerName: c.serverName}
}

func (c *reloadingCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is required by the interface (deprecated in gRPC).
func (c *reloadingCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}
