package nginx_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/freeport"
)

// The service binaries, built once by TestMain (see startBuilds) while the
// stub edge starts.
var services = []string{"otp-service", "checkout-service", "magento-bridge"}

// builds is the outcome of building the service binaries.
type builds struct {
	dir  string // holds one binary per service
	errs map[string]error
}

var built chan builds

// startBuilds builds every service with `go build -o <dir>/<name> ./<name>`
// from the repository root, in the background.
func startBuilds(dir string) {
	built = make(chan builds, 1)
	go func() {
		b := builds{dir: dir, errs: map[string]error{}}
		for _, s := range services {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, s), "./"+s)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				b.errs[s] = fmt.Errorf("go build ./%s: %v\n%s", s, err, out)
			}
		}
		built <- b
	}()
}

// serviceProcess is one running service binary.
type serviceProcess struct {
	name string
	addr string
	log  string // its stdout and stderr (JSON lines)
	cmd  *exec.Cmd
	done chan struct{}
}

// startService runs bin serve in development mode on a free port, with the
// test machine's MySQL and Redis (TEST_MYSQL_HOST/PORT, TEST_REDIS_HOST/PORT):
// database db is created and migrated when missing, the way `make demo` does.
// Instances of one service share db, as in production.
func startService(t *testing.T, bin, name, prefix, db, dir string) *serviceProcess {
	t.Helper()
	ports, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &serviceProcess{name: name, addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), log: filepath.Join(dir, name+".log")}
	mysql := net.JoinHostPort(envOr("TEST_MYSQL_HOST", "127.0.0.1"), envOr("TEST_MYSQL_PORT", "3306"))
	redis := net.JoinHostPort(envOr("TEST_REDIS_HOST", "127.0.0.1"), envOr("TEST_REDIS_PORT", "6379"))
	conf := filepath.Join(dir, name+".yaml")
	yaml := fmt.Sprintf(`env: development
http:
  addr: %q
  trusted_proxies: ["127.0.0.1"]
log:
  level: info
  format: json
mysql:
  dsn: "root@tcp(%s)/%s"
  migrate_on_start: true
  create_database: true
redis:
  addrs: [%q]
  key_prefix: "nginx-test:%s:"
`, p.addr, mysql, db, redis, db)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve", "--config", conf)
	// Magento is not contacted by these requests; services that insist on
	// admin credentials get placeholders (ignored by those without them).
	p.cmd.Env = append(os.Environ(), prefix+"_MAGENTO_ADMIN_USERNAME=edge-test", prefix+"_MAGENTO_ADMIN_PASSWORD=edge-test")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); out.Close(); close(p.done) }()
	t.Cleanup(p.stop)
	p.waitHealthy(t)
	return p
}

// waitHealthy waits until GET /healthz answers 200 directly (not through
// nginx, which keeps it private).
func (p *serviceProcess) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited before answering /healthz (is MySQL or Redis down? run .ci/ensure-deps.sh):\n%s", p.name, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s: GET /healthz never answered 200 (last error %v):\n%s", p.name, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the graceful shutdown.
func (p *serviceProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// requestLogged returns the service's request log line for id, waiting for
// it briefly, or nil when the service never logged it.
func (p *serviceProcess) requestLogged(id string, wait time.Duration) map[string]any {
	deadline := time.Now().Add(wait)
	for {
		b, _ := os.ReadFile(p.log)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["request_id"] == id {
				return line
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestRealServices runs the real binaries behind a second edge rendered from
// the same templates: otp-service under /auth/, two checkout-service
// instances behind secure, and magento-bridge running but never routed to.
func TestRealServices(t *testing.T) {
	var b builds
	select {
	case b = <-built:
		built <- b // let a repeated run (-count) read it again
	case <-time.After(10 * time.Minute):
		t.Fatal("the service builds did not finish")
	}
	for _, s := range services {
		if err := b.errs[s]; err != nil {
			t.Fatalf("service binaries must build for the edge tests: %v", err)
		}
	}
	dir := t.TempDir()
	otp := startService(t, filepath.Join(b.dir, "otp-service"), "otp-service", "OTP", "nginx_edge_otp", dir)
	checkout1 := startService(t, filepath.Join(b.dir, "checkout-service"), "checkout-service-1", "CHECKOUT", "nginx_edge_checkout", dir)
	checkout2 := startService(t, filepath.Join(b.dir, "checkout-service"), "checkout-service-2", "CHECKOUT", "nginx_edge_checkout", dir)
	bridge := startService(t, filepath.Join(b.dir, "magento-bridge"), "magento-bridge", "BRIDGE", "nginx_edge_bridge", dir)

	fcgiAddr, stopFCGI, err := startMagentoStub(filepath.Join(dir, "magento"))
	if err != nil {
		t.Fatal(err)
	}
	defer stopFCGI()
	e, err := startEdge(filepath.Join(dir, "edge"), edgeVars{
		OTP:      []string{otp.addr},
		Checkout: []string{checkout1.addr, checkout2.addr},
		FastCGI:  []string{fcgiAddr},
		Magento:  filepath.Join(dir, "magento"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	c := e.client(nil)

	// sent records every request id that went through the edge.
	var sent []string
	call := func(t *testing.T, method, url string) (response, string) {
		t.Helper()
		id := newID(t)
		sent = append(sent, id)
		res := send(t, c, method, url, http.Header{"X-Request-ID": {id}, "X-Forwarded-For": {"203.0.113.50"}}, nil)
		return res, id
	}

	tests := []struct {
		name     string
		method   string
		url      string
		svc      []*serviceProcess // one of these must answer
		wantPath string            // as the service logged it
	}{
		{"otp-service on www under /auth/", "GET", "https://www.shop.test/auth/v1/edge-probe", []*serviceProcess{otp}, "/v1/edge-probe"},
		{"otp-service on secure under /auth/", "POST", "https://secure.shop.test/auth/v1/edge-probe", []*serviceProcess{otp}, "/v1/edge-probe"},
		{"checkout-service on secure", "GET", "https://secure.shop.test/edge-probe?cart=not-logged", []*serviceProcess{checkout1, checkout2}, "/edge-probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, id := call(t, tt.method, tt.url)
			// The service's own JSON error proves who answered, with our id.
			var body struct {
				Error struct {
					Code      string `json:"code"`
					RequestID string `json:"request_id"`
				} `json:"error"`
			}
			if err := json.Unmarshal(res.body, &body); err != nil || body.Error.RequestID != id {
				t.Fatalf("%s %s: status %d body %s; want the service's JSON error carrying request id %s", tt.method, tt.url, res.StatusCode, res.body, id)
			}
			if got := res.Header.Values("X-Request-ID"); len(got) != 1 || got[0] != id {
				t.Errorf("X-Request-ID %q; want exactly [%s]", got, id)
			}
			l := e.logEntry(t, id)
			var answered *serviceProcess
			for _, s := range tt.svc {
				if l.UpstreamAddr == s.addr {
					answered = s
				}
			}
			if answered == nil {
				t.Fatalf("edge logged upstream_addr %q; want one of %s", l.UpstreamAddr, tt.svc[0].name)
			}
			line := answered.requestLogged(id, 5*time.Second)
			if line == nil {
				t.Fatalf("%s did not log request %s", answered.name, id)
			}
			if line["path"] != tt.wantPath || line["client_ip"] != "203.0.113.50" {
				t.Errorf("%s logged path %v client_ip %v; want %s and the real client 203.0.113.50", answered.name, line["path"], line["client_ip"], tt.wantPath)
			}
		})
	}

	t.Run("both checkout instances serve", func(t *testing.T) {
		used := map[string]int{}
		for range 6 {
			_, id := call(t, "GET", "https://secure.shop.test/edge-probe")
			used[e.logEntry(t, id).UpstreamAddr]++
		}
		if used[checkout1.addr] == 0 || used[checkout2.addr] == 0 {
			t.Errorf("requests per instance %v; want both %s and %s", used, checkout1.addr, checkout2.addr)
		}
	})

	t.Run("health endpoints stay private", func(t *testing.T) {
		for _, url := range []string{"https://secure.shop.test/healthz", "https://www.shop.test/auth/healthz", "https://secure.shop.test/metrics"} {
			// On www the edge's 404 is Magento's 404 page, so the only
			// upstream allowed is php-fpm.
			res, id := call(t, "GET", url)
			via := e.logEntry(t, id).UpstreamAddr
			if res.StatusCode != http.StatusNotFound || via == otp.addr || via == checkout1.addr || via == checkout2.addr {
				t.Errorf("GET %s: status %d via %q; want 404 without reaching a service", url, res.StatusCode, via)
			}
		}
	})

	t.Run("magento-bridge is never reached", func(t *testing.T) {
		for _, id := range sent {
			if bridge.requestLogged(id, 0) != nil {
				t.Errorf("magento-bridge logged request %s that came through the edge", id)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+bridge.addr+"/healthz", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("magento-bridge /healthz directly: %v %v; want 200 (it runs, privately)", res, err)
		}
		res.Body.Close()
		b, err := os.ReadFile(e.conf)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{e.conf, filepath.Join(e.dir, "etc/nginx/platform/upstreams.conf")} {
			b, _ = os.ReadFile(f)
			if strings.Contains(string(b), bridge.addr) {
				t.Errorf("%s names magento-bridge's address %s", f, bridge.addr)
			}
		}
	})
}
