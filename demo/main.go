// Command demo runs the whole platform on one machine that has only Go:
// `make demo` (or `go run ./demo`).
//
// Without MYSQL_DSN and REDIS_ADDR it starts in-process MySQL- and
// Redis-protocol servers (go-mysql-server and miniredis; they are linked into
// this runner only, never into the service binaries). It runs the sandbox
// Magento on 127.0.0.1:8090 and the three services as child processes from
// bin/ (built by `make demo`), prints every URL, and stops everything cleanly
// on Ctrl-C.
//
//	go run ./demo                   the whole platform
//	go run ./demo magento-sandbox   only the sandbox Magento
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, defaultLayout(), os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type svc struct {
	name, prefix, addr, database string
}

// layout is where the demo's pieces listen, and where the binaries are.
type layout struct {
	magento, mysql, redis string
	edge                  string // the secure origin: what nginx does in production
	services              []svc
	bin                   string // directory holding the service binaries
}

func defaultLayout() layout {
	return layout{
		magento: "127.0.0.1:8090",
		edge:    "127.0.0.1:8080",
		mysql:   "127.0.0.1:3307",
		redis:   "127.0.0.1:6380",
		services: []svc{
			{"otp-service", "OTP", "127.0.0.1:8081", "otp"},
			{"checkout-service", "CHECKOUT", "127.0.0.1:8082", "checkout"},
			{"magento-bridge", "BRIDGE", "127.0.0.1:8083", "checkout"}, // shares checkout's outbox
		},
		bin: "bin",
	}
}

func run(ctx context.Context, l layout, args []string, out io.Writer, getenv func(string) string) error {
	magentoAddr, embeddedMySQLAddr, embeddedRedisAddr, services := l.magento, l.mysql, l.redis, l.services
	logrus.SetLevel(logrus.ErrorLevel) // go-mysql-server's own logging
	if len(args) > 0 && args[0] == "magento-sandbox" {
		fmt.Fprintf(out, "sandbox Magento on http://%s/rest/V1/ (Ctrl-C stops it)\n", l.magento)
		return runMagento(ctx, l.magento)
	}
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q (want no argument, or magento-sandbox)", args[0])
	}

	// Data stores: the configured ones, or embedded ones.
	mysqlServer := getenv("MYSQL_DSN") // server DSN without a database, e.g. root@tcp(127.0.0.1:3306)/
	redisAddr := getenv("REDIS_ADDR")
	embedded := mysqlServer == ""
	if embedded {
		m, err := startMySQL(embeddedMySQLAddr, "otp", "checkout")
		if err != nil {
			return err
		}
		defer m.Close()
		mysqlServer = "root@tcp(" + embeddedMySQLAddr + ")/"
		fmt.Fprintf(out, "embedded MySQL     %s (in memory; set MYSQL_DSN to use a real server)\n", embeddedMySQLAddr)
	}
	if redisAddr == "" {
		r, err := startRedis(embeddedRedisAddr)
		if err != nil {
			return err
		}
		defer r.Close()
		redisAddr = embeddedRedisAddr
		fmt.Fprintf(out, "embedded Redis     %s (in memory; set REDIS_ADDR to use a real server)\n", embeddedRedisAddr)
	}

	mctx, stopMagento := context.WithCancel(ctx)
	defer stopMagento()
	magentoErr := make(chan error, 1)
	go func() { magentoErr <- runMagento(mctx, magentoAddr) }()
	// Store configs need an admin token: a 401 proves the sandbox answers.
	if err := waitHTTP(ctx, "http://"+magentoAddr+"/rest/V1/store/storeConfigs", magentoErr, http.StatusUnauthorized); err != nil {
		return fmt.Errorf("sandbox magento: %w", err)
	}
	fmt.Fprintf(out, "sandbox Magento    http://%s/rest/V1/  (admin / %s)\n", magentoAddr, sandboxAdminPassword)

	bin, err := binDir(ctx, l, out)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	procs := make([]*exec.Cmd, 0, len(services))
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		wg.Wait()
	}()
	exited := make(chan error, len(services))
	for _, s := range services {
		cmd := exec.Command(filepath.Join(bin, s.name), "serve")
		cmd.Env = append(os.Environ(), serviceEnv(s, l, mysqlServer, redisAddr, embedded)...)
		cmd.Stdout = prefixed(out, s.name)
		cmd.Stderr = prefixed(out, s.name)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", s.name, err)
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			exited <- fmt.Errorf("%s exited: %v", s.name, err)
		}()
		// One at a time: checkout-service creates the outbox the bridge reads.
		if err := waitHTTP(ctx, "http://"+s.addr+"/readyz", exited, http.StatusOK); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	edgeErr := make(chan error, 1)
	go func() { edgeErr <- runEdge(ctx, l.edge, services[0].addr, services[1].addr) }()
	if err := waitHTTP(ctx, "http://"+l.edge+"/auth/healthz", edgeErr, http.StatusOK); err != nil {
		return fmt.Errorf("demo edge: %w", err)
	}
	masked, err := demoCart(ctx, "http://"+magentoAddr)
	if err != nil {
		return fmt.Errorf("demo cart: %w", err)
	}
	fmt.Fprintf(out, `
The platform is up:
  otp-service        http://%s   (POST /v1/otp/start; codes sent in the demo: GET /v1/sandbox/messages?to=...)
  checkout-service   http://%s   (JSON API /v1/...; pages /checkout/...)
  magento-bridge     http://%s   (GET /v1/status)
  sandbox Magento    http://%s   (REST /rest/V1/...; orders placed so far: GET /__sandbox/orders)
  secure origin      http://%s   (what nginx serves as secure.<domain>: /auth/ to otp-service, the rest to checkout)

Try the journey: a guest cart with two products is waiting in the sandbox Magento. Open
  http://%s/checkout/start?cart=%s
fill in the pages, pay with the sandbox card 4242 4242 4242 4242 (tok_sandbox_ok; 4000 0027 6000 3184 asks for
3-D Secure, 4000 0000 0000 9995 is declined for insufficient funds), and watch the confirmation page show the
Magento order number once magento-bridge has placed it.
Press Ctrl-C to stop.
`, services[0].addr, services[1].addr, services[2].addr, magentoAddr, l.edge, l.edge, masked)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping...")
		return nil
	case err := <-exited:
		return err
	case err := <-magentoErr:
		return fmt.Errorf("sandbox magento: %w", err)
	case err := <-edgeErr:
		return fmt.Errorf("demo edge: %w", err)
	}
}

// Demo credentials shared by the services (development only).
const (
	demoServiceToken = "demo-service-token"
	demoAdminToken   = "demo-admin-token"
)

// serviceEnv configures a service for the demo through its environment.
func serviceEnv(s svc, l layout, mysqlServer, redisAddr string, embedded bool) []string {
	base, params, _ := strings.Cut(mysqlServer, "?")
	dsn := strings.TrimSuffix(base, "/") + "/" + s.database
	if params != "" {
		dsn += "?" + params
	}
	p := s.prefix + "_"
	env := []string{
		p + "ENV=development",
		p + "HTTP_ADDR=" + s.addr,
		p + "MYSQL_DSN=" + dsn,
		p + "REDIS_ADDRS=" + redisAddr,
		p + "MAGENTO_BASE_URL=http://" + l.magento,
	}
	otp, checkout := l.services[0].addr, l.services[1].addr
	switch s.name {
	case "checkout-service":
		env = append(env,
			p+"MAGENTO_ADMIN_USERNAME=admin",
			p+"MAGENTO_ADMIN_PASSWORD="+sandboxAdminPassword,
			p+"ADMIN_SERVICE_TOKENS="+demoServiceToken,
			p+"CHECKOUT_PUBLIC_URL=http://"+l.edge,
			p+"WEB_ALLOWED_RETURN_ORIGINS=http://"+l.magento,
			p+"WEB_CART_URL=http://"+l.magento+"/checkout/cart/",
			p+"AUTH_JWKS_URL=http://"+otp+"/.well-known/jwks.json",
			p+"AUTH_ISSUER="+otpIssuer,
			p+"AUTH_AUDIENCE="+otpAudience,
		)
	case "magento-bridge":
		env = append(env,
			p+"CHECKOUT_BASE_URL=http://"+checkout,
			p+"CHECKOUT_SERVICE_TOKEN="+demoServiceToken,
			p+"BRIDGE_ADMIN_TOKEN="+demoAdminToken,
			p+"BRIDGE_POLL_INTERVAL=200ms",
			p+"BRIDGE_REFUND_POLL_INTERVAL=5s",
		)
		if embedded {
			// The embedded MySQL accepts FOR UPDATE SKIP LOCKED but locks
			// nothing: one worker, so correctness never depends on it.
			env = append(env, p+"BRIDGE_WORKERS=1")
		}
	case "otp-service":
		env = append(env,
			p+"TOKENS_ISSUER="+otpIssuer,
			p+"TOKENS_AUDIENCE="+otpAudience,
			p+"OTP_WEBOTP_HOST="+strings.Split(l.edge, ":")[0],
		)
	}
	return env
}

// The token issuer and audience otp-service signs and checkout-service checks.
const (
	otpIssuer   = "http://127.0.0.1/auth"
	otpAudience = "magefleet"
)

// binDir returns the directory holding the service binaries, building them
// into a temporary one when bin/ lacks any.
func binDir(ctx context.Context, l layout, out io.Writer) (string, error) {
	complete := true
	for _, s := range l.services {
		if _, err := os.Stat(filepath.Join(l.bin, s.name)); err != nil {
			complete = false
		}
	}
	if complete {
		return l.bin, nil
	}
	dir, err := os.MkdirTemp("", "platform-demo-bin")
	if err != nil {
		return "", err
	}
	fmt.Fprintln(out, "building the services...")
	args := []string{"build", "-o", dir + "/"}
	for _, s := range l.services {
		args = append(args, "./"+s.name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return dir, nil
}

// waitHTTP polls url until it answers with status want.
func waitHTTP(ctx context.Context, url string, failed <-chan error, want int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("not ready after 60s: " + url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// prefixed returns a writer that prefixes each line with name.
func prefixed(out io.Writer, name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			fmt.Fprintf(out, "%-17s| %s\n", name, sc.Text())
		}
	}()
	return pw
}
