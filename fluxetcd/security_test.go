package fluxetcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/fluxmap/fluxmap/fluxetcd"
)

// certs are PEM files made by the test: a CA, a server certificate for
// 127.0.0.1 and a client certificate, all signed by the CA.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fluxetcd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (cert, key string) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return write(cn+".crt", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", kder)
	}
	c := certs{ca: write("ca.crt", "CERTIFICATE", caDER)}
	c.serverCert, c.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return c
}

// TestSecureCluster runs against a member that requires TLS client
// certificates and has authentication enabled. A client with the right
// certificate and credentials works within its prefix; one with the wrong
// password, without a certificate, or outside its prefix is refused with
// a clear error and reads nothing.
func TestSecureCluster(t *testing.T) {
	cs := makeCerts(t)
	c := startCluster(t, 1, func(cfg *embed.Config) {
		for _, us := range [][]url.URL{cfg.ListenClientUrls, cfg.AdvertiseClientUrls} {
			us[0].Scheme = "https"
		}
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile: cs.serverCert, KeyFile: cs.serverKey, TrustedCAFile: cs.ca, ClientCertAuth: true,
		}
	})
	ctx := ctxFor(t, defaultWait)
	newClient := func(withCert bool, user, password string) (*clientv3.Client, error) {
		info := transport.TLSInfo{TrustedCAFile: cs.ca}
		if withCert {
			info.CertFile, info.KeyFile = cs.clientCert, cs.clientKey
		}
		tc, err := info.ClientConfig()
		require.NoError(t, err)
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: c.Endpoints(), TLS: tc, Username: user, Password: password,
			DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
		})
		if cli != nil {
			t.Cleanup(func() { cli.Close() })
		}
		return cli, err
	}

	// Set up users before enabling auth: root, and app with read-write on
	// "secure/" only.
	admin, err := newClient(true, "", "")
	require.NoError(t, err)
	for _, step := range []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "app"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "app", "secure/", clientv3.GetPrefixRangeEnd("secure/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "app", "app-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "app", "app"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		require.NoError(t, step())
	}

	app, err := newClient(true, "app", "app-pw")
	require.NoError(t, err)
	db, err := fluxetcd.Open(ctx, app, fluxetcd.Options[string, int64]{Prefix: "secure/"})
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "k", 42))
	v, ok, err := db.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(42), v)

	// Outside its prefix the same user is refused.
	_, err = fluxetcd.Open(ctx, app, fluxetcd.Options[string, int64]{Prefix: "other/"})
	require.ErrorIs(t, err, fluxetcd.ErrAccessDenied)

	// The certificate alone names user "client", which does not exist.
	anon, err := newClient(true, "", "")
	require.NoError(t, err)
	_, err = fluxetcd.Open(ctx, anon, fluxetcd.Options[string, int64]{Prefix: "secure/"})
	require.ErrorIs(t, err, fluxetcd.ErrAccessDenied)

	// A wrong password is refused when the client authenticates.
	_, err = newClient(true, "app", "wrong")
	require.ErrorContains(t, err, "authentication failed")

	// Without a client certificate the TLS handshake fails: the cluster
	// cannot be reached, within the deadline, and the error says the
	// client had no connection.
	nocert, err := newClient(false, "", "")
	require.NoError(t, err)
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	_, err = fluxetcd.Open(dctx, nocert, fluxetcd.Options[string, int64]{Prefix: "secure/"})
	require.ErrorIs(t, err, fluxetcd.ErrUnavailable)
	require.ErrorContains(t, err, "TLS handshake failed")
	require.Less(t, time.Since(start), 4*time.Second)
}
