package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildServices builds the three binaries once for the package's tests.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

func buildServices(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath, buildErr = os.MkdirTemp("", "demo-test-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath+"/", "../otp-service", "../checkout-service", "../magento-bridge")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoRunsWholePlatform runs the demo as `make demo` does, with its
// embedded MySQL and Redis, on free ports, and checks that every service is
// ready, then that Ctrl-C (context cancellation) stops everything cleanly.
func TestDemoRunsWholePlatform(t *testing.T) {
	l := layout{
		magento: freeAddr(t),
		mysql:   freeAddr(t),
		redis:   freeAddr(t),
		services: []svc{
			{"otp-service", "OTP", freeAddr(t), "otp"},
			{"checkout-service", "CHECKOUT", freeAddr(t), "checkout"},
			{"magento-bridge", "BRIDGE", freeAddr(t), "checkout"},
		},
		bin: buildServices(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	noEnv := func(string) string { return "" } // no MYSQL_DSN or REDIS_ADDR: embedded servers
	go func() { done <- run(ctx, l, nil, &out, noEnv) }()

	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "The platform is up") {
		select {
		case err := <-done:
			t.Fatalf("demo stopped early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not up after 90s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range l.services {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err != nil {
			t.Fatalf("%s /readyz: %v", s.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /readyz = %d; want 200", s.name, resp.StatusCode)
		}
		if !strings.Contains(out.String(), s.addr) {
			t.Errorf("the demo did not print %s's address %s", s.name, s.addr)
		}
	}
	resp, err := http.Get("http://" + l.magento + "/rest/V1/store/storeConfigs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sandbox Magento store configs without a token = %d; want 401 as Magento answers", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo stop = %v; want a clean stop", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop within 60s of Ctrl-C")
	}
	for _, s := range l.services {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			t.Errorf("%s still listening after the demo stopped", s.name)
		}
	}
}

// TestReadmeDocumentsEveryKey checks that README.md documents every
// configuration key of every service, with its environment variable, as the
// binaries themselves report them (`<binary> config`).
func TestReadmeDocumentsEveryKey(t *testing.T) {
	bin := buildServices(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"otp-service", "checkout-service", "magento-bridge"} {
		out, err := exec.Command(filepath.Join(bin, name), "config").Output()
		if err != nil {
			t.Fatalf("%s config: %v", name, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			cells := strings.Split(line, "|")
			if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
				continue
			}
			key, env := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
			// The common keys are documented once with the OTP_ prefix.
			if !strings.Contains(string(readme), "| "+key+" | "+env+" |") &&
				!strings.Contains(string(readme), "| "+key+" | "+otpPrefixed(env)+" |") {
				t.Errorf("README.md lacks %s's key %s (%s)", name, key, env)
			}
		}
	}
}

func otpPrefixed(env string) string {
	for _, p := range []string{"`CHECKOUT_", "`BRIDGE_"} {
		if strings.HasPrefix(env, p) {
			return "`OTP_" + strings.TrimPrefix(env, p)
		}
	}
	return env
}
