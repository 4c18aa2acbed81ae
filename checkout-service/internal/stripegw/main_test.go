package stripegw_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stripeMockURL is the address of the stripe-mock that TestMain runs.
var stripeMockURL string

// TestMain builds stripe-mock from the module's tool dependency (go.mod:
// `tool github.com/stripe/stripe-mock`, so only Go and the module proxy are
// needed), starts it on a free port with HTTP only, runs the tests and stops
// it. A stripe-mock that cannot be built or started fails the run.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stripe-mock-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stripe-mock:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "stripe-mock")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		// go test does not always put go on PATH; use the toolchain that
		// built this test.
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // the toolchain's own root is what we want
	}
	build := exec.Command(goCmd, "build", "-o", bin, "github.com/stripe/stripe-mock")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cannot build stripe-mock (go.mod tool dependency):", err)
		return 1
	}

	// -http-port 0: HTTP only (no HTTPS on 12112), on a port the kernel
	// picks; stripe-mock prints the address it listens on.
	cmd := exec.Command(bin, "-http-port", "0")
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stripe-mock:", err)
		return 1
	}
	cmd.Stderr = cmd.Stdout
	// The parent-death signal follows the OS thread that started the child:
	// keep this goroutine on its thread for the life of the run.
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cannot start stripe-mock:", err)
		return 1
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case a := <-addr:
		// "[::]:41234" or "127.0.0.1:41234": the port follows the last colon.
		stripeMockURL = "http://127.0.0.1:" + a[strings.LastIndex(a, ":")+1:]
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "FAIL: stripe-mock did not report its address")
		return 1
	}
	return m.Run()
}
