package service_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/faultproxy"
	"github.com/magefleet/platform/internal/freeport"
	"github.com/magefleet/platform/internal/service"
)

type testCfg struct {
	config.Common `mapstructure:",squash"`
}

func (c *testCfg) Base() *config.Common { return &c.Common }
func (c *testCfg) Validate() error      { return c.Common.Validate() }

func program() service.Program[*testCfg] {
	return service.Program[*testCfg]{
		Name:      "test-service",
		EnvPrefix: "TEST",
		Version:   "1.2.3",
		Defaults: func() *testCfg {
			return &testCfg{config.Common{Env: "production", HTTP: config.DefaultHTTP("127.0.0.1:0"),
				Log: config.Log{Level: "warn"}, MySQL: config.DefaultMySQL("t"), Redis: config.DefaultRedis("t:")}}
		},
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadinessFollowsMySQL(t *testing.T) {
	mysqlCfg := databasetest.NewConfig(t)
	proxy, err := faultproxy.Start("127.0.0.1:3306")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfg := program().Defaults()
	cfg.MySQL = mysqlCfg
	cfg.MySQL.DSN = config.Secret(strings.Replace(mysqlCfg.DSN.Reveal(), "127.0.0.1:3306", proxy.Addr(), 1))
	cfg.MySQL.ConnMaxLifetime = time.Second
	cfg.Redis = cachetest.NewConfig(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- program().Serve(ctx, cfg, ln, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/readyz"
	waitStatus := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := get(t, url)
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %s; want %d", code, body, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus(200)
	proxy.Down()
	body := waitStatus(503)
	if !strings.Contains(body, `"mysql":"unavailable"`) || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("/readyz body %s; want mysql named as the failing dependency", body)
	}
	proxy.Up()
	waitStatus(200)
}

func TestCommands(t *testing.T) {
	var out bytes.Buffer
	if err := program().Run(context.Background(), []string{"version"}, &out, func(string) string { return "" }); err != nil || out.String() != "test-service 1.2.3\n" {
		t.Fatalf("version = %q, %v", out.String(), err)
	}
	err := program().Run(context.Background(), []string{"frobnicate"}, io.Discard, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command = %v", err)
	}
	env := map[string]string{"TEST_HTTP_ADDR": "nowhere"}
	err = program().Run(context.Background(), []string{"serve"}, io.Discard, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "http.addr (TEST_HTTP_ADDR): must be host:port") {
		t.Fatalf("serve with a bad address = %v; want the key named", err)
	}
}

// TestSIGTERMFinishesInFlightRequest builds a real binary, sends it SIGTERM
// while a request is in flight, and checks the request completes and the
// process exits cleanly.
func TestSIGTERMFinishesInFlightRequest(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "slowsvc")
	build := exec.Command("go", "build", "-o", bin, "./testdata/slowsvc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	mysqlCfg := databasetest.NewConfig(t)
	redisCfg := cachetest.NewConfig(t)
	addr, err := freeport.Addr() // bound by the binary later
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SLOW_HTTP_ADDR="+addr,
		"SLOW_MYSQL_DSN="+mysqlCfg.DSN.Reveal(),
		"SLOW_REDIS_KEY_PREFIX="+redisCfg.KeyPrefix,
		"SLOW_REDIS_ADDRS="+strings.Join(redisCfg.Addrs, ","),
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	for line := range logs {
		if strings.Contains(line, `"serving"`) {
			break
		}
	}
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), nil}
	}()
	// Wait until the request is being served, then signal.
	for line := range logs {
		if strings.Contains(line, "slow request started") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request after SIGTERM = %d %q %v; want 200 finished", r.code, r.body, r.err)
	}
	go func() {
		for range logs {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("process exit = %v; want a clean exit", err)
	}
}

func TestConfigReference(t *testing.T) {
	var out bytes.Buffer
	if err := program().Run(context.Background(), []string{"config"}, &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| `mysql.dsn` | `TEST_MYSQL_DSN` | `(secret)` | user:password@tcp(host:3306)/database |",
		"| `http.addr` | `TEST_HTTP_ADDR` | `127.0.0.1:0` |",
		"| `redis.addrs` | `TEST_REDIS_ADDRS` | `127.0.0.1:6379` |",
		"| `http.read_timeout` | `TEST_HTTP_READ_TIMEOUT` | `10s` |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config reference lacks %q:\n%s", want, out.String())
		}
	}
}
