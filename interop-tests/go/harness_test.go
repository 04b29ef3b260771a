// One Sluice broker for the whole package: TestMain starts `$SLUICE_BIN serve --memory` on a
// free loopback port (logging to $INTEROP_LOG_DIR/broker-go-<suite>.log) and stops it after
// the tests. run-matrix.sh runs the package once per client (-run '^TestSarama', ...).
package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	timeout            = 30 * time.Second
	quiet              = 1500 * time.Millisecond
	sessionTimeout     = 6 * time.Second // the broker's minimum
	heartbeatInterval  = 1 * time.Second
	groupPartitions    = 4
	firstPerPartition  = 10
	secondPerPartition = 5
)

var bootstrap string

func TestMain(m *testing.M) {
	os.Exit(runWithBroker(m))
}

func runWithBroker(m *testing.M) int {
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "sluice")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "no free port:", err)
		return 2
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	bootstrap = fmt.Sprintf("127.0.0.1:%d", port)

	logDir := os.Getenv("INTEROP_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	_ = os.MkdirAll(logDir, 0o755)
	logFile, err := os.Create(filepath.Join(logDir, fmt.Sprintf("broker-go-%s.log", suiteName())))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create broker log:", err)
		return 2
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "serve", "--memory", "--listen", bootstrap, "--http", "none")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The broker reads every SLUICE_<KEY> variable as a setting and refuses unknown ones.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot start %s: %v\n", bin, err)
		return 2
	}
	pidFile := filepath.Join(logDir, fmt.Sprintf("broker-go-%d.pid", os.Getpid()))
	_ = os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644)
	defer os.Remove(pidFile)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", bootstrap, 500*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			fmt.Fprintf(os.Stderr, "sluice exited before accepting: %v\n", err)
			return 2
		default:
		}
		if time.Now().After(deadline) {
			stop()
			fmt.Fprintln(os.Stderr, "sluice did not accept on", bootstrap)
			return 2
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := m.Run()
	stop()
	return code
}

var counter int64

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), atomic.AddInt64(&counter, 1))
}

// suiteName names the broker's log after the -run pattern's client (sarama, franz, kafkago).
func suiteName() string {
	if s := os.Getenv("INTEROP_GO_SUITE"); s != "" {
		return s
	}
	return "all"
}
