package events_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
)

// testCA issues certificates for one test and writes them as PEM files.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	File string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orgplane test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key}
	ca.File = ca.write("ca.pem", "CERTIFICATE", der)
	return ca
}

func (ca *testCA) write(name, kind string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

// issue returns a certificate for name (a server on 127.0.0.1, or a client) and its files.
func (ca *testCA) issue(name string, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	certFile, keyFile := ca.write(name+".pem", "CERTIFICATE", der), ca.write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ca.t.Fatal(err)
	}
	return pair, certFile, keyFile
}

// A service reaches a NATS server that serves TLS only and verifies client certificates when
// given the CA and its client certificate (ORGPLANE_NATS_CA_FILE, _CERT_FILE, _KEY_FILE), and not
// otherwise.
func TestConnectOverTLSWithAClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	serverCert, _, _ := ca.issue("nats-server", x509.ExtKeyUsageServerAuth)
	_, clientCert, clientKey := ca.issue("org", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	auth, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.Start(natsserver.Options{Dir: t.TempDir(), Auth: auth, VerifyClients: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	creds := filepath.Join(t.TempDir(), "org.creds")
	if err := auth.WriteCreds(creds, "org", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	log := slog.New(slog.DiscardHandler)
	connects := func(cfg events.NATSConfig) error {
		nc, _, err := events.Connect(cfg, "org", log)
		if err != nil {
			return err
		}
		defer nc.Close()
		return nc.FlushTimeout(time.Second)
	}
	if err := connects(events.NATSConfig{URL: url, CredsFile: creds, CAFile: ca.File, CertFile: clientCert, KeyFile: clientKey}); err != nil {
		t.Fatalf("CA and client certificate: %v", err)
	}
	for name, cfg := range map[string]events.NATSConfig{
		"without the CA":                    {URL: url, CredsFile: creds, CertFile: clientCert, KeyFile: clientKey},
		"without a client certificate":      {URL: url, CredsFile: creds, CAFile: ca.File},
		"without TLS options at all":        {URL: url, CredsFile: creds},
		"with TLS but without a credential": {URL: url, CAFile: ca.File, CertFile: clientCert, KeyFile: clientKey},
	} {
		if err := connects(cfg); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	if err := connects(events.NATSConfig{URL: url, CredsFile: creds, CAFile: ca.File, CertFile: clientCert}); err == nil ||
		!strings.Contains(err.Error(), "key") {
		t.Errorf("half a client certificate: %v; want an error naming the missing key", err)
	}
}

func TestNATSConfigRefusesNoCredentialAndRedactsPasswords(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, _, err := events.Connect(events.NATSConfig{URL: "nats://127.0.0.1:1"}, "org", log); err == nil ||
		!strings.Contains(err.Error(), "ORGPLANE_NATS_CREDS") {
		t.Errorf("no credential: %v; want a configuration error naming ORGPLANE_NATS_CREDS", err)
	}
	if _, _, err := events.Connect(events.NATSConfig{URL: "nats://127.0.0.1:1", CredsFile: "a.creds", User: "u", Password: "p"}, "org", log); err == nil {
		t.Error("two credentials accepted")
	}
	for raw, want := range map[string]string{
		"nats://org:s3cret@nats:4222":              "nats://org:xxxxx@nats:4222",
		"nats://t0ken@nats:4222":                   "nats://xxxxx@nats:4222",
		"nats://a:p1@n1:4222, nats://a:p2@n2:4222": "nats://a:xxxxx@n1:4222,nats://a:xxxxx@n2:4222",
		"nats://nats:4222":                         "nats://nats:4222",
		"tls://nats.internal:4222":                 "tls://nats.internal:4222",
	} {
		if got := events.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
