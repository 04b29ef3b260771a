// franz-go with SASL/SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_SSL against its own Sluice broker,
// whose certificates are made here with crypto/x509 (no key is committed), and a wrong password
// refused.
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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const secureUser, securePassword = "alice", "alice-secret"

// makeCertificates writes server.pem and server.key (for 127.0.0.1, signed by a fresh CA) to
// dir and returns the CA's pool.
func makeCertificates(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, serverKey := key(), key()
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Sluice test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, der []byte) {
		block := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), block, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("server.pem", "CERTIFICATE", serverDER)
	write("server.key", "PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// startSecureBroker runs a broker with one SASL_SSL listener and one user; it is stopped when
// the test ends. It returns the listener's address and the CA's pool.
func startSecureBroker(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "sluice")
	}
	dir := t.TempDir()
	pool := makeCertificates(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logDir := os.Getenv("INTEROP_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	logFile, err := os.Create(filepath.Join(logDir, "broker-go-security.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(bin, "serve", "--memory", "--http", "none",
		"--listener", "SASL_SSL://"+addr,
		"--tls-cert", filepath.Join(dir, "server.pem"),
		"--tls-key", filepath.Join(dir, "server.key"),
		"--sasl-user", secureUser+":"+securePassword)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", bin, err)
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
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, pool
		}
		select {
		case err := <-exited:
			t.Fatalf("sluice exited before accepting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice did not accept on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFranzSCRAMOverSASLSSL(t *testing.T) {
	addr, pool := startSecureBroker(t)
	auth := scram.Auth{User: secureUser, Pass: securePassword}
	for _, mechanism := range []struct {
		name string
		sasl sasl.Mechanism
	}{
		{"SCRAM-SHA-256", auth.AsSha256Mechanism()},
		{"SCRAM-SHA-512", auth.AsSha512Mechanism()},
	} {
		t.Run(mechanism.name, func(t *testing.T) {
			topic := unique("go-sec-" + strings.ToLower(mechanism.name))
			client, err := kgo.NewClient(
				kgo.SeedBrokers(addr),
				kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
				kgo.SASL(mechanism.sasl),
				kgo.AllowAutoTopicCreation(),
				kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxWait(100*time.Millisecond),
			)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var sent []string
			for i := 0; i < 3; i++ {
				value := fmt.Sprintf("%s-value-%d", mechanism.name, i)
				sent = append(sent, value)
				record := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte(value)}
				if err := client.ProduceSync(ctx, record).FirstErr(); err != nil {
					t.Fatalf("produce %d: %v", i, err)
				}
				if record.Offset != int64(i) {
					t.Fatalf("record %d at offset %d", i, record.Offset)
				}
			}
			var received []string
			for len(received) < len(sent) {
				fetches := client.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("received %v of %v: %v", received, sent, err)
				}
				fetches.EachError(func(topic string, partition int32, err error) {
					t.Fatalf("fetch %s/%d: %v", topic, partition, err)
				})
				fetches.EachRecord(func(r *kgo.Record) {
					received = append(received, fmt.Sprintf("%d:%s:%s", r.Offset, r.Key, r.Value))
				})
			}
			var want []string
			for i, v := range sent {
				want = append(want, fmt.Sprintf("%d:key-%d:%s", i, i, v))
			}
			if strings.Join(received, "|") != strings.Join(want, "|") {
				t.Fatalf("received %v, want %v", received, want)
			}
		})
	}

	t.Run("a wrong password", func(t *testing.T) {
		wrong := scram.Auth{User: secureUser, Pass: "not-the-password"}
		client, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
			kgo.SASL(wrong.AsSha256Mechanism()),
			kgo.RequestRetries(0),
		)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err = client.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})
}
