// franz-go over Sluice's secured listeners: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over
// SASL_PLAINTEXT and SASL_SSL, SCRAM credentials managed with kadm, refusals of a wrong
// password, an unknown user and a client that does not trust the broker's CA. Each test starts
// its own broker (`serve --listener ... --tls-cert ... --sasl-user ...`); the certificates are
// made here, at run time, with crypto/x509 — no key is committed.
package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testCA is a certificate authority made for one test, and the broker certificate it signed
// for 127.0.0.1.
type testCA struct {
	pool              *x509.CertPool
	certFile, keyFile string
	caFile            string
}

func newTestCA(t *testing.T, dir, name string) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sluice"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, kind string, der []byte) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCA{
		pool:     pool,
		certFile: write(name+"-cert.pem", "CERTIFICATE", der),
		keyFile:  write(name+"-key.pem", "PRIVATE KEY", keyDER),
		caFile:   write(name+"-ca.pem", "CERTIFICATE", caDER),
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// secureBroker is a broker of one test with a SASL_SSL and a SASL_PLAINTEXT listener.
type secureBroker struct {
	saslSSL, saslPlaintext string
	ca                     testCA
}

func startSecureBroker(t *testing.T, users ...string) secureBroker {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, dir, "broker")
	b := secureBroker{saslSSL: freeLoopbackAddr(t), saslPlaintext: freeLoopbackAddr(t), ca: ca}
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "sluice")
	}
	args := []string{"serve", "--memory", "--http", "none",
		"--listener", "SASL_SSL://" + b.saslSSL,
		"--listener", "SASL_PLAINTEXT://" + b.saslPlaintext,
		"--tls-cert", ca.certFile, "--tls-key", ca.keyFile}
	for _, u := range users {
		args = append(args, "--sasl-user", u)
	}
	logDir := os.Getenv("INTEROP_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	logFile, err := os.Create(filepath.Join(logDir, fmt.Sprintf("broker-go-%s.log", t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(timeout)
	for _, addr := range []string{b.saslSSL, b.saslPlaintext} {
		for {
			c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				log, _ := os.ReadFile(logFile.Name())
				t.Fatalf("sluice exited before accepting: %v\n%s", err, log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("sluice did not accept on %s", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return b
}

// client connects to `addr` with `mechanism`, over TLS trusting `pool` when it is not nil.
func (b secureBroker) client(t *testing.T, addr string, pool *x509.CertPool, mechanism sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.SASL(mechanism),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.RequestRetries(2),
		kgo.RetryTimeout(5 * time.Second),
	}
	if pool != nil {
		base = append(base, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("new kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// roundTrip creates a topic, produces keyed records with headers and reads them back exactly.
func roundTrip(t *testing.T, cl *kgo.Client) {
	t.Helper()
	topic := unique("franz-sasl")
	franzCreate(t, kadm.NewClient(cl), topic, 1, nil)
	want := manyKeyedRecords(20)
	for i, r := range want {
		rec := kgoRecord(topic, r)
		rec.Partition = 0
		if err := cl.ProduceSync(ctxTimeout(t), rec).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	sameKgoRecords(t, want, fromKgo(franzPoll(t, cl, len(want))))
}

func TestFranzSaslEveryMechanismOverBothListeners(t *testing.T) {
	b := startSecureBroker(t, "alice:alice-secret")
	mechanisms := map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(),
	}
	for name, mechanism := range mechanisms {
		t.Run(name+"/SASL_SSL", func(t *testing.T) {
			roundTrip(t, b.client(t, b.saslSSL, b.ca.pool, mechanism))
		})
		t.Run(name+"/SASL_PLAINTEXT", func(t *testing.T) {
			roundTrip(t, b.client(t, b.saslPlaintext, nil, mechanism))
		})
	}
}

// A refused login surfaces as SASL_AUTHENTICATION_FAILED (Kafka's code 58), for a wrong
// password and for a user the broker does not know, with either mechanism family.
func TestFranzSaslRefusesWrongPasswordsAndUnknownUsers(t *testing.T) {
	b := startSecureBroker(t, "alice:alice-secret")
	refused := map[string]sasl.Mechanism{
		"wrong password PLAIN":   plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(),
		"wrong password SCRAM":   scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(),
		"unknown user PLAIN":     plain.Auth{User: "mallory", Pass: "alice-secret"}.AsMechanism(),
		"unknown user SCRAM-256": scram.Auth{User: "mallory", Pass: "alice-secret"}.AsSha256Mechanism(),
	}
	for name, mechanism := range refused {
		t.Run(name, func(t *testing.T) {
			cl := b.client(t, b.saslSSL, b.ca.pool, mechanism)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := cl.Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("want SASL_AUTHENTICATION_FAILED, got %v", err)
			}
		})
	}
}

// A client that does not trust the broker's CA fails the TLS handshake and never gets to SASL.
func TestFranzSaslSslRefusesAClientWithAnotherCA(t *testing.T) {
	b := startSecureBroker(t, "alice:alice-secret")
	other := newTestCA(t, t.TempDir(), "other")
	cl := b.client(t, b.saslSSL, other.pool, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := cl.Ping(ctx)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Fatalf("want an unknown-authority handshake failure, got %v", err)
	}
}

// SCRAM credentials managed through the protocol (AlterUserScramCredentials,
// DescribeUserScramCredentials): a user added by kadm logs in with the mechanism it was given
// and not with the other; a deleted credential no longer logs in.
func TestFranzScramCredentialsManagedWithKadm(t *testing.T) {
	b := startSecureBroker(t, "admin:admin-secret")
	adminClient := b.client(t, b.saslSSL, b.ca.pool, scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism())
	adm := kadm.NewClient(adminClient)
	altered, err := adm.AlterUserSCRAMs(ctxTimeout(t), nil, []kadm.UpsertSCRAM{{
		User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-secret",
	}})
	if err != nil {
		t.Fatalf("AlterUserScramCredentials: %v", err)
	}
	if err := altered.Error(); err != nil {
		t.Fatalf("AlterUserScramCredentials bob: %v", err)
	}
	described, err := adm.DescribeUserSCRAMs(ctxTimeout(t), "bob", "admin")
	if err != nil {
		t.Fatalf("DescribeUserScramCredentials: %v", err)
	}
	bob, ok := described["bob"]
	if !ok || bob.Err != nil || len(bob.CredInfos) != 1 || bob.CredInfos[0].Mechanism != kadm.ScramSha512 || bob.CredInfos[0].Iterations != 8192 {
		t.Fatalf("bob is described as %+v", bob)
	}
	if admin := described["admin"]; admin.Err != nil || len(admin.CredInfos) != 2 {
		t.Fatalf("a --sasl-user has both SCRAM mechanisms: %+v", admin)
	}

	roundTrip(t, b.client(t, b.saslSSL, b.ca.pool, scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()))
	ping := func(m sasl.Mechanism) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return b.client(t, b.saslSSL, b.ca.pool, m).Ping(ctx)
	}
	if err := ping(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob has no SCRAM-SHA-256 credential, yet: %v", err)
	}

	deleted, err := adm.AlterUserSCRAMs(ctxTimeout(t), []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || deleted.Error() != nil {
		t.Fatalf("delete bob's credential: %v %v", err, deleted.Error())
	}
	if err := ping(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a deleted credential still logs in: %v", err)
	}
}
