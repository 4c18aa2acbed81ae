package nginx_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/freeport"
)

// The shop's domain in every test; the client resolves every name to nginx.
const (
	domain     = "shop.test"
	wwwHost    = "www." + domain
	secureHost = "secure." + domain
)

// Tools the tests run. A missing one fails the run: `.ci/ensure-deps.sh`
// installs both.
var (
	nginxBin    string
	playbookBin string
)

// findTools locates nginx and ansible-playbook.
func findTools() error {
	var missing []string
	nginxBin = "/usr/sbin/nginx"
	if _, err := os.Stat(nginxBin); err != nil {
		if nginxBin, err = exec.LookPath("nginx"); err != nil {
			missing = append(missing, "nginx")
		}
	}
	var err error
	if playbookBin, err = exec.LookPath("ansible-playbook"); err != nil {
		missing = append(missing, "ansible-playbook")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not installed: run .ci/ensure-deps.sh (apt-get install nginx ansible)", strings.Join(missing, " and "))
	}
	return nil
}

// edge is one nginx, rendered from nginx/templates by the ansible role and
// running in the foreground under a private prefix directory.
type edge struct {
	dir       string // everything the edge writes lives here
	conf      string // the rendered nginx.conf
	accessLog string
	errorLog  string
	httpAddr  string // loopback address of the plain HTTP listener
	httpsAddr string // loopback address of the HTTPS listener
	certPool  *x509.CertPool

	cmd  *exec.Cmd
	done chan struct{}
	err  error // nginx's exit status, set before done closes
}

// edgeVars are the ansible variables of one test edge: loopback listeners on
// free ports, a throwaway root, a test certificate and the given upstreams.
type edgeVars struct {
	OTP      []string // otp-service instances
	Checkout []string // checkout-service instances
	FastCGI  []string // php-fpm (a FastCGI stub)
	Magento  string   // Magento root (holds pub/)
}

// startEdge renders an edge into dir through the ansible nginx role, checks
// it with `nginx -t` and starts nginx.
func startEdge(dir string, v edgeVars) (*edge, error) {
	e := &edge{dir: dir}
	certFile, keyFile, pool, err := writeCert(dir, []string{wwwHost, secureHost, domain})
	if err != nil {
		return nil, err
	}
	e.certPool = pool
	ports, err := freeport.Ports(2)
	if err != nil {
		return nil, err
	}
	e.httpAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	e.httpsAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	user := ""
	if os.Geteuid() == 0 {
		user = "root" // workers must write the temp directories under dir
	}
	vars := map[string]any{
		"platform_root":              dir,
		"platform_manage_services":   false,
		"platform_manage_system":     false,
		"platform_domain":            domain,
		"nginx_user":                 user,
		"nginx_temp_dir":             filepath.Join(dir, "var/lib/nginx"),
		"nginx_http_listen":          e.httpAddr,
		"nginx_https_listen":         e.httpsAddr,
		"nginx_https_public_port":    ports[1],
		"nginx_listen_ipv6":          false,
		"nginx_worker_processes":     2,
		"nginx_worker_rlimit_nofile": 0, // containers may refuse to raise it
		"nginx_tls_certificate":      certFile,
		"nginx_tls_certificate_key":  keyFile,
		"nginx_trusted_proxies":      []string{"127.0.0.1/32"},
		"nginx_otp_servers":          v.OTP,
		"nginx_checkout_servers":     v.Checkout,
		"nginx_fastcgi_servers":      v.FastCGI,
		"magento_root":               v.Magento,
		"magento_mode":               "production",
	}
	if err := renderEdge(dir, vars); err != nil {
		return nil, err
	}
	e.conf = filepath.Join(dir, "etc/nginx/nginx.conf")
	e.accessLog = filepath.Join(dir, "var/log/nginx/access.json.log")
	e.errorLog = filepath.Join(dir, "var/log/nginx/error.log")
	if out, err := exec.Command(nginxBin, "-t", "-c", e.conf).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t -c %s: %v\n%s", e.conf, err, out)
	}
	e.cmd = exec.Command(nginxBin, "-c", e.conf, "-g", "daemon off;")
	e.cmd.Stdout = os.Stderr
	e.cmd.Stderr = os.Stderr
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	e.done = make(chan struct{})
	go func() { e.err = e.cmd.Wait(); close(e.done) }()
	if err := e.waitListening(); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// renderEdge runs testdata/render.yml, which includes the nginx role's
// render tasks, with vars.
func renderEdge(dir string, vars map[string]any) error {
	roles, err := filepath.Abs("../ansible/roles")
	if err != nil {
		return err
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return err
	}
	varsFile := filepath.Join(dir, "vars.json")
	if err := os.WriteFile(varsFile, b, 0o600); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "ansible-tmp")
	cmd := exec.Command(playbookBin, "-i", "localhost,", "-c", "local", "testdata/render.yml", "-e", "@"+varsFile)
	cmd.Env = append(os.Environ(),
		"ANSIBLE_ROLES_PATH="+roles,
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_LOCAL_TEMP="+tmp,
		"ANSIBLE_REMOTE_TEMP="+tmp,
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ansible-playbook testdata/render.yml: %v\n%s", err, out)
	}
	return nil
}

// waitListening waits until nginx accepts connections on both listeners.
func (e *edge) waitListening() error {
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range []string{e.httpAddr, e.httpsAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-e.done:
				return fmt.Errorf("nginx exited: %v", e.err)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nginx is not listening on %s: %v", addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// stop shuts nginx down gracefully (SIGQUIT), killing it if it lingers.
func (e *edge) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// client returns an HTTP client that reaches every name through this edge:
// port 80 goes to the plain listener, anything else to the TLS one. It trusts
// the test certificate, does not follow redirects, and lets tweak adjust the
// TLS settings.
func (e *edge) client(tweak func(*tls.Config)) *http.Client {
	cfg := &tls.Config{RootCAs: e.certPool}
	if tweak != nil {
		tweak(cfg)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				to := e.httpsAddr
				if strings.HasSuffix(addr, ":80") {
					to = e.httpAddr
				}
				return dialer.DialContext(ctx, network, to)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// logLine is one JSON access log entry.
type logLine struct {
	Time                 string  `json:"time"`
	Host                 string  `json:"host"`
	RequestID            string  `json:"request_id"`
	RemoteAddr           string  `json:"remote_addr"`
	Method               string  `json:"method"`
	Path                 string  `json:"path"`
	Protocol             string  `json:"protocol"`
	Status               int     `json:"status"`
	Bytes                int64   `json:"bytes"`
	RequestTime          float64 `json:"request_time"`
	UpstreamResponseTime string  `json:"upstream_response_time"`
	UpstreamAddr         string  `json:"upstream_addr"`
	UpstreamStatus       string  `json:"upstream_status"`
	TLS                  string  `json:"tls"`
	UserAgent            string  `json:"user_agent"`
}

// logEntry waits for the access log line of the request with id and returns
// it parsed; every line read must be valid JSON.
func (e *edge) logEntry(t testing.TB, id string) logLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(e.accessLog)
		if err != nil {
			t.Fatalf("read access log: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("access log line is not JSON: %v\n%s", err, sc.Bytes())
			}
			if l.RequestID == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with request_id %q in %s", id, e.accessLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seenRequest is what a stub upstream saw of one request.
type seenRequest struct {
	Service        string `json:"service"`
	Instance       string `json:"instance"`
	Method         string `json:"method"`
	Path           string `json:"path"`
	Query          string `json:"query"`
	Host           string `json:"host"`
	RequestID      string `json:"request_id"`
	ForwardedFor   string `json:"forwarded_for"`
	RealIP         string `json:"real_ip"`
	ForwardedProto string `json:"forwarded_proto"`
	Script         string `json:"script,omitempty"` // Magento: the PHP entry point run
	MageMode       string `json:"mage_mode,omitempty"`
}

// stubUpstream is an HTTP upstream standing in for a Go service: it answers
// every request with what it saw, plus headers the edge must replace.
type stubUpstream struct {
	service, instance string
	srv               *httptest.Server

	mu   sync.Mutex
	seen []seenRequest
}

func newStubUpstream(service, instance string) *stubUpstream {
	s := &stubUpstream{service: service, instance: instance}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		sr := seenRequest{
			Service:        service,
			Instance:       instance,
			Method:         r.Method,
			Path:           r.URL.Path,
			Query:          r.URL.RawQuery,
			Host:           r.Host,
			RequestID:      r.Header.Get("X-Request-ID"),
			ForwardedFor:   strings.Join(r.Header.Values("X-Forwarded-For"), ","),
			RealIP:         r.Header.Get("X-Real-IP"),
			ForwardedProto: r.Header.Get("X-Forwarded-Proto"),
		}
		s.mu.Lock()
		s.seen = append(s.seen, sr)
		s.mu.Unlock()
		// Headers the edge owns: they must not reach the client twice.
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		w.Header().Set("X-Request-ID", "set-by-upstream")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sr)
	}))
	return s
}

func (s *stubUpstream) addr() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// sawRequest reports whether the stub received the request with id.
func (s *stubUpstream) sawRequest(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		if r.RequestID == id {
			return true
		}
	}
	return false
}

// count returns how many requests the stub received.
func (s *stubUpstream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// startMagentoStub serves FastCGI on loopback as php-fpm would for a Magento
// root: it reports the entry point nginx asked it to run and answers
// errors/404.php with 404, as Magento does. It also lays out a Magento pub/
// directory with the entry points and a few static and media files.
func startMagentoStub(root string) (addr string, stop func(), err error) {
	pub := filepath.Join(root, "pub")
	files := map[string]string{
		"index.php":         "<?php",
		"get.php":           "<?php",
		"static.php":        "<?php",
		"health_check.php":  "<?php",
		"cron.php":          "<?php",
		"errors/404.php":    "<?php",
		"errors/503.php":    "<?php",
		"errors/report.php": "<?php",
		"errors/local.xml":  "<config/>",
		".htaccess":         "Deny from all",
		".user.ini":         "memory_limit=1G",
		"static/frontend/Magento/luma/en_US/css/styles-m.css": "body{color:#333}",
		"static/frontend/Magento/luma/en_US/bundle.zip":       "PK",
		"media/catalog/product/a/b/shoe.jpg":                  "JPEG",
		"media/customer/address/secret.txt":                   "private",
		"media/import/products.csv":                           "sku,price",
	}
	for name, body := range files {
		p := filepath.Join(pub, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", nil, err
		}
	}
	// Outside pub/: must never be served.
	if err := os.MkdirAll(filepath.Join(root, "app/etc"), 0o755); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "app/etc/env.php"), []byte("<?php return ['db' => 'secret'];"), 0o644); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env := fcgi.ProcessEnv(r)
		script := strings.TrimPrefix(env["SCRIPT_FILENAME"], pub+"/")
		sr := seenRequest{
			Service:        "magento",
			Method:         r.Method,
			Path:           r.URL.Path,
			Query:          r.URL.RawQuery, // the query the client sent (REQUEST_URI)
			Host:           r.Host,
			RequestID:      r.Header.Get("X-Request-ID"),
			ForwardedProto: env["REQUEST_SCHEME"],
			Script:         script,
			MageMode:       env["MAGE_MODE"],
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Frame-Options", "SAMEORIGIN") // Magento sends its own
		if script == "errors/404.php" {
			w.WriteHeader(http.StatusNotFound)
		}
		_ = json.NewEncoder(w).Encode(sr)
	})
	go func() { _ = fcgi.Serve(ln, h) }()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// writeCert makes a self-signed ECDSA certificate for names in dir and
// returns the file paths and a pool that trusts it.
func writeCert(dir string, names []string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile = filepath.Join(dir, "tls/cert.pem")
	keyFile = filepath.Join(dir, "tls/key.pem")
	if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

// seen decodes the upstream's echo of the request.
func (r response) seen(t testing.TB) seenRequest {
	t.Helper()
	var s seenRequest
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("%s %s: body is not an upstream echo: %v\n%s", r.Request.Method, r.Request.URL, err, r.body)
	}
	return s
}

// send performs one request through c and reads the whole body.
func send(t testing.TB, c *http.Client, method, url string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			if strings.EqualFold(k, "Host") {
				req.Host = v
				continue
			}
			req.Header.Add(k, v)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{res, b}
}

// newID returns a unique request id for one test request.
func newID(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("test-%x", b)
}
