package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// startAuthServer starts a single JetStream NATS server on loopback that
// requires user "presence" with password "secret" and, when tlsConf is set,
// TLS.
func startAuthServer(t *testing.T, tlsConf *tls.Config) *server.Server {
	t.Helper()
	srv := nodetest.RunNATS(t, server.Options{
		Username: "presence", Password: "secret",
		TLSConfig: tlsConf, TLS: tlsConf != nil, TLSVerify: false,
	})
	return srv
}

// TestConnectWithCredentials connects nodes to an external NATS that
// requires a user and password, and one that also requires TLS with a
// private CA given by --nats-tls-ca.
func TestConnectWithCredentials(t *testing.T) {
	t.Parallel()
	t.Run("user and password", func(t *testing.T) {
		srv := startAuthServer(t, nil)
		n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()), nodetest.WithConfig(func(c *node.Config) {
			c.Store.NATSUser, c.Store.NATSPassword = "presence", "secret"
		}))
		if r := n.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online"}); r.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
	})
	t.Run("TLS with a private CA", func(t *testing.T) {
		caFile, serverConf := testPKI(t)
		srv := startAuthServer(t, serverConf)
		url := fmt.Sprintf("tls://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
		n := nodetest.StartNode(t, nodetest.WithNATS(url), nodetest.WithConfig(func(c *node.Config) {
			c.Store.NATSUser, c.Store.NATSPassword, c.Store.NATSTLSCA = "presence", "secret", caFile
		}))
		if r := n.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online"}); r.Status != http.StatusOK {
			t.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
	})
}

// testPKI makes a CA and a server certificate for 127.0.0.1 signed by it.
// It returns the CA certificate's PEM file and the server's TLS config.
func testPKI(t *testing.T) (string, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "presenced test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}
