package ansible_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Tools the tests run; a missing one fails the run (.ci/ensure-deps.sh
// installs them).
var (
	playbookBin string
	lintBin     string
	nginxBin    string
)

func TestMain(m *testing.M) {
	var missing []string
	for _, tool := range []struct {
		name string
		path *string
	}{{"ansible-playbook", &playbookBin}, {"ansible-lint", &lintBin}, {"nginx", &nginxBin}} {
		p, err := exec.LookPath(tool.name)
		if err != nil && tool.name == "nginx" {
			p, err = "/usr/sbin/nginx", nil
			if _, serr := os.Stat(p); serr != nil {
				err = serr
			}
		}
		if err != nil {
			missing = append(missing, tool.name)
		}
		*tool.path = p
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "ansible tests: %s not installed: run .ci/ensure-deps.sh (apt-get install ansible ansible-lint nginx)\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ansibleEnv is the environment for ansible commands: private temporary
// directories, no colours, no retry files.
func ansibleEnv(t *testing.T) []string {
	t.Helper()
	tmp := t.TempDir()
	return append(os.Environ(),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_LOCAL_TEMP="+tmp,
		"ANSIBLE_REMOTE_TEMP="+tmp,
		"NO_COLOR=1",
	)
}

// run runs name with args in this directory (ansible/) and returns its
// combined output and error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = ansibleEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSyntaxCheck(t *testing.T) {
	t.Parallel()
	for _, inv := range []string{"inventories/production", "inventories/staging"} {
		t.Run(inv, func(t *testing.T) {
			out, err := run(t, playbookBin, "--syntax-check", "-i", inv, "site.yml", "deploy.yml")
			if err != nil {
				t.Fatalf("ansible-playbook --syntax-check -i %s: %v\n%s", inv, err, out)
			}
		})
	}
}

func TestLint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"ansible", []string{"--profile", "production", "-p", "--nocolor"}},
		{"nginx render playbook", []string{"--profile", "production", "-p", "--nocolor", "-c", ".ansible-lint", "../nginx/testdata/render.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, lintBin, tt.args...)
			if err != nil {
				t.Fatalf("ansible-lint %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			// -p prints one "file:line: rule: message" per violation; warnings
			// do not change the exit status, so look for them too.
			violation := regexp.MustCompile(`(?m)^\S+:\d+(:\d+)?: \S+`)
			if v := violation.FindAllString(out, -1); len(v) > 0 || strings.Contains(out, "warning(s)") && !strings.Contains(out, " 0 warning(s)") {
				t.Errorf("ansible-lint reported %d problems:\n%s", len(v), out)
			}
		})
	}
}

// magento_config_confirm_customer_email sets customer/create_account/confirm
// (1 or 0); left empty, the store's own setting is not touched.
func TestMagentoCustomerEmailConfirmation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	magento := filepath.Join(dir, "magento")
	if err := os.MkdirAll(filepath.Join(magento, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "magento.log")
	writeScript(t, filepath.Join(magento, "bin/magento"), fmt.Sprintf(`echo "magento $*" >> %s
case "$1" in config:show) exit 1;; esac`, log))
	play := filepath.Join(dir, "magento.yml")
	if err := os.WriteFile(play, []byte("- name: Configure Magento\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: magento_config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		extra map[string]any
		want  string // empty: the setting is not touched
	}{
		{nil, ""},
		{map[string]any{"magento_config_confirm_customer_email": true}, "config:set customer/create_account/confirm 1"},
		{map[string]any{"magento_config_confirm_customer_email": false}, "config:set customer/create_account/confirm 0"},
	} {
		vars := map[string]any{
			"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
			"magento_root": magento, "magento_config_apply": true, "magento_config_php": "/bin/sh", "magento_config_user": "",
		}
		for k, v := range tc.extra {
			vars[k] = v
		}
		b, err := json.Marshal(vars)
		if err != nil {
			t.Fatal(err)
		}
		ev := filepath.Join(dir, fmt.Sprintf("vars-%d.json", i))
		if err := os.WriteFile(ev, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(log); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if out, err := run(t, playbookBin, "-i", "localhost,", "-e", "@"+ev, play); err != nil {
			t.Fatalf("ansible-playbook magento_config with %v: %v\n%s", tc.extra, err, out)
		}
		got := readFile(t, log)
		switch {
		case tc.want == "" && strings.Contains(got, "customer/create_account/confirm"):
			t.Errorf("with %v bin/magento changed the confirmation setting; ran:\n%s", tc.extra, got)
		case tc.want != "" && !strings.Contains(got, tc.want+"\n"):
			t.Errorf("with %v bin/magento was not run with %q; ran:\n%s", tc.extra, tc.want, got)
		}
	}
}

// fixture is a throwaway machine layout the playbooks run against.
type fixture struct {
	dir   string // everything lives here
	root  string // platform_root
	calls string // the fake binaries and systemctl append here
	snaps string // upstreams.conf as of each nginx reload
	ports map[string][]int
	inv   string // the inventory file
	ready *readyStub
	runs  int // playbook runs so far
}

// readyStub answers /readyz for the otp-service instances: 503 while the
// active release (the "current" link) is named "bad", else 200.
type readyStub struct {
	current string
	hits    atomic.Int64
}

func (s *readyStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	target, _ := os.Readlink(s.current)
	if r.URL.Path != "/readyz" || filepath.Base(target) == "bad" {
		http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// Secrets the fixture's inventory hands to the services: one with every
// character an EnvironmentFile must escape, and one that only the
// configuration file can carry (a map entry).
const (
	trickySecret = `pa"ss\word$x 'q' #1`
	otpHashKey   = "hash-key-secret-0123456789-abcdefghijklmnopqrstuv"
)

// serviceConfig is a service's inventory configuration for the tests:
// development mode (the services fill in development secrets), a database
// created on demand, and a Redis key prefix.
func serviceConfig(prefix string) map[string]any {
	return map[string]any{
		"env":   "development",
		"mysql": map[string]any{"create_database": true},
		"redis": map[string]any{"key_prefix": prefix},
	}
}

// serviceSecrets are a service's secrets for the tests: a DSN for the test
// MySQL (TEST_MYSQL_HOST/PORT) and placeholder Magento admin credentials,
// plus extra.
func serviceSecrets(db string, extra map[string]string) map[string]string {
	host := os.Getenv("TEST_MYSQL_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	port := os.Getenv("TEST_MYSQL_PORT")
	if port == "" {
		port = "3306"
	}
	s := map[string]string{
		"MYSQL_DSN":              fmt.Sprintf("root@tcp(%s)/ansible_test_%s", net.JoinHostPort(host, port), db),
		"MAGENTO_ADMIN_USERNAME": "ansible-test",
		"MAGENTO_ADMIN_PASSWORD": "ansible-test-password",
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.root = filepath.Join(f.dir, "root")
	f.calls = filepath.Join(f.dir, "calls.log")
	f.snaps = filepath.Join(f.dir, "snapshots")
	build := filepath.Join(f.dir, "build")
	bin := filepath.Join(f.dir, "bin")
	magento := filepath.Join(f.dir, "magento")
	for _, d := range []string{build, bin, f.snaps, filepath.Join(magento, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// `make build` output: the real binaries behind wrappers that record how
	// they were run and which of their environment variables are set. The
	// real migrate loads config.yaml as rendered (unknown keys are refused)
	// with the secrets ansible passes, and migrates the test MySQL.
	real := filepath.Join(f.dir, "real")
	for _, s := range []string{"otp-service", "checkout-service", "magento-bridge"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(real, s), "./"+s)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the service binaries must build for the deployment tests: go build ./%s: %v\n%s", s, err, out)
		}
		writeScript(t, filepath.Join(build, s), fmt.Sprintf(`echo "%s $* env:$(env | grep -E '^(OTP|CHECKOUT|BRIDGE)_' | cut -d= -f1 | sort | tr '\n' ' ')" >> %s
exec %s "$@"`, s, f.calls, filepath.Join(real, s)))
	}
	writeScript(t, filepath.Join(bin, "systemctl"), fmt.Sprintf(`echo "systemctl $*" >> %s`, f.calls))
	writeScript(t, filepath.Join(bin, "nginx-reload"), fmt.Sprintf(`echo "nginx-reload" >> %[1]s
n=$(ls %[2]s | wc -l)
cp %[3]s %[2]s/$(printf %%03d "$n").conf`, f.calls, f.snaps, filepath.Join(f.root, "etc/nginx/platform/upstreams.conf")))
	writeScript(t, filepath.Join(magento, "bin/magento"), fmt.Sprintf(`echo "magento $*" >> %s
case "$1" in config:show) exit 1;; esac`, filepath.Join(f.dir, "magento.log")))

	// otp-service's two instances answer /readyz from a stub.
	f.ready = &readyStub{current: filepath.Join(f.root, "opt/magefleet/otp-service/current")}
	var otpPorts []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: f.ready}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		otpPorts = append(otpPorts, ln.Addr().(*net.TCPAddr).Port)
	}
	f.ports = map[string][]int{"otp-service": otpPorts, "checkout-service": {28082, 28092}, "magento-bridge": {28083}}

	vars := map[string]any{
		"ansible_connection":            "local",
		"ansible_python_interpreter":    "/usr/bin/python3",
		"platform_root":                 f.root,
		"platform_manage_services":      false,
		"platform_manage_system":        false,
		"platform_run_migrations":       true,
		"platform_build_dir":            build,
		"platform_domain":               "shop.test",
		"platform_service_ports":        f.ports,
		"magento_root":                  magento,
		"magento_config_apply":          true,
		"magento_config_php":            "/bin/sh",
		"magento_config_user":           "",
		"magento_config_redis_password": "magento-redis-secret",
		"nginx_tls_self_signed":         true,
		"nginx_tls_certificate":         filepath.Join(f.root, "etc/nginx/tls/cert.pem"),
		"nginx_tls_certificate_key":     filepath.Join(f.root, "etc/nginx/tls/key.pem"),
		"nginx_varnish_enabled":         true,
		"nginx_binary":                  nginxBin,
		"nginx_reload_argv":             []string{filepath.Join(bin, "nginx-reload")},
		"goservice_systemctl":           filepath.Join(bin, "systemctl"),
		"goservice_drain_seconds":       0,
		"goservice_health_retries":      2,
		"goservice_health_delay":        1,
		"base_admin_users":              []map[string]any{{"name": "alice", "ssh_keys": []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 alice@example"}}},
		"otp_service_config":            serviceConfig("{otp}:"),
		"otp_service_secret_config":     map[string]any{"otp": map[string]any{"active_hash_key": "t1", "hash_keys": map[string]string{"t1": otpHashKey}}},
		"otp_service_secrets":           serviceSecrets("otp", map[string]string{"REDIS_PASSWORD": trickySecret}),
		"checkout_service_config":       serviceConfig("{checkout}:"),
		"checkout_service_secrets":      serviceSecrets("checkout", nil),
		"magento_bridge_config":         serviceConfig("{bridge}:"),
		"magento_bridge_secrets":        serviceSecrets("bridge", nil),
	}
	local := map[string]any{"hosts": map[string]any{"localhost": map[string]any{}}}
	inv := map[string]any{"all": map[string]any{
		"vars":     vars,
		"children": map[string]any{"edge": local, "magento": local, "app": local},
	}}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f.inv = filepath.Join(f.dir, "inventory.json")
	if err := os.WriteFile(f.inv, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// playbook runs a playbook against the fixture's inventory with extra vars.
func (f *fixture) playbook(t *testing.T, playbook string, extra map[string]any) (string, error) {
	t.Helper()
	args := []string{"-i", f.inv, playbook}
	if extra != nil {
		b, err := json.Marshal(extra)
		if err != nil {
			t.Fatal(err)
		}
		f.runs++
		p := filepath.Join(f.dir, fmt.Sprintf("extra-%d.json", f.runs))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-e", "@"+p)
	}
	return run(t, playbookBin, args...)
}

// callLines returns what the fake binaries, systemctl and nginx reload
// recorded, in order.
func (f *fixture) callLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// snapshots returns upstreams.conf as of each nginx reload, in order.
func (f *fixture) snapshots(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.snaps)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.snaps, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func (f *fixture) path(rel string) string { return filepath.Join(f.root, rel) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// yamlFile parses a YAML file with the YAML library ansible itself uses.
func yamlFile(t *testing.T, path string) map[string]any {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path).Output()
	if err != nil {
		t.Fatalf("%s is not YAML: %v", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// lookup follows a dotted path through nested maps.
func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// parseEnvFile reads a systemd EnvironmentFile with double-quoted values.
func parseEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			if v[i] == '\\' && i+1 < len(v)-1 {
				i++
				if v[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(v[i])
		}
		env[k] = b.String()
	}
	return env
}

func TestSiteAndRollingDeploy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, err := f.playbook(t, "site.yml", nil)
	if err != nil {
		t.Fatalf("ansible-playbook site.yml against localhost: %v\n%s", err, out)
	}

	services := []struct{ name, prefix string }{{"otp-service", "OTP"}, {"checkout-service", "CHECKOUT"}, {"magento-bridge", "BRIDGE"}}
	t.Run("systemd units", func(t *testing.T) {
		for _, s := range services {
			unit := readFile(t, f.path("etc/systemd/system/"+s.name+"@.service"))
			want := []string{
				"User=" + s.name,
				"Group=" + s.name,
				"NoNewPrivileges=yes",
				"ProtectSystem=strict",
				"ProtectHome=yes",
				"PrivateTmp=yes",
				"PrivateDevices=yes",
				"ProtectKernelTunables=yes",
				"ProtectControlGroups=yes",
				"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
				"CapabilityBoundingSet=",
				"LimitNOFILE=65536",
				"Restart=on-failure",
				"EnvironmentFile=" + f.path("etc/"+s.name+"/secrets.env"),
				"Environment=" + s.prefix + "_HTTP_ADDR=127.0.0.1:%i",
				"Environment=GOGC=200",
				"Environment=GOMEMLIMIT=512MiB",
				"ExecStart=" + f.path("opt/magefleet/"+s.name+"/current/"+s.name) + " serve --config " + f.path("etc/"+s.name+"/config.yaml"),
			}
			lines := strings.Split(unit, "\n")
			for _, w := range want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("%s@.service lacks the line %q", s.name, w)
				}
			}
			if regexp.MustCompile(`(?m)^ExecStartPre=|^ExecStart=.* migrate`).MatchString(unit) {
				t.Errorf("%s@.service migrates on start:\n%s", s.name, unit)
			}
		}
	})

	t.Run("configuration and secrets", func(t *testing.T) {
		for _, s := range services {
			confPath := f.path("etc/" + s.name + "/config.yaml")
			envPath := f.path("etc/" + s.name + "/secrets.env")
			modes := []struct {
				path string
				want os.FileMode
			}{{envPath, 0o600}, {confPath, 0o640}, {filepath.Dir(confPath), 0o750 | os.ModeDir}}
			for _, m := range modes {
				st, err := os.Stat(m.path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode() != m.want {
					t.Errorf("%s mode %v; want %v", m.path, st.Mode(), m.want)
				}
			}
			c := yamlFile(t, confPath)
			checks := map[string]any{
				"env": "development", "log.format": "json", "mysql.migrate_on_start": false,
				"http.addr": fmt.Sprintf("127.0.0.1:%d", f.ports[s.name][0]),
			}
			for k, want := range checks {
				if got := lookup(c, k); got != want {
					t.Errorf("%s: %s = %v; want %v", confPath, k, got, want)
				}
			}
			if lookup(c, "mysql.dsn") != nil || strings.Contains(readFile(t, confPath), "@tcp(") {
				t.Errorf("%s holds a secret; secrets belong in the EnvironmentFile", confPath)
			}
			env := parseEnvFile(t, envPath)
			if want := serviceSecrets(map[string]string{"OTP": "otp", "CHECKOUT": "checkout", "BRIDGE": "bridge"}[s.prefix], nil)["MYSQL_DSN"]; env[s.prefix+"_MYSQL_DSN"] != want {
				t.Errorf("%s: %s_MYSQL_DSN = %q; want %q", envPath, s.prefix, env[s.prefix+"_MYSQL_DSN"], want)
			}
			if s.name == "otp-service" {
				if env["OTP_REDIS_PASSWORD"] != trickySecret {
					t.Errorf("%s: OTP_REDIS_PASSWORD reads back as %q; want %q", envPath, env["OTP_REDIS_PASSWORD"], trickySecret)
				}
				if got := lookup(c, "otp.hash_keys.t1"); got != otpHashKey {
					t.Errorf("%s: otp.hash_keys.t1 = %v; want the secret map merged in", confPath, got)
				}
			}
		}
	})

	t.Run("migrations ran once per service", func(t *testing.T) {
		calls := f.callLines(t)
		for _, s := range services {
			want := fmt.Sprintf("%[1]s migrate --config %[2]s env:%[3]s_MAGENTO_ADMIN_PASSWORD %[3]s_MAGENTO_ADMIN_USERNAME %[3]s_MYSQL_DSN", s.name, f.path("etc/"+s.name+"/config.yaml"), s.prefix)
			n := 0
			for _, c := range calls {
				if strings.HasPrefix(c, want) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%q ran %d times; want once\ncalls:\n%s", want, n, strings.Join(calls, "\n"))
			}
		}
		for _, c := range calls {
			if strings.HasPrefix(c, "systemctl") {
				t.Errorf("services were managed with platform_manage_services false: %s", c)
			}
		}
	})

	t.Run("releases", func(t *testing.T) {
		for _, s := range services {
			target, err := os.Readlink(f.path("opt/magefleet/" + s.name + "/current"))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`/releases/[0-9a-f]{12}$`).MatchString(target) {
				t.Errorf("%s current → %s; want a release named by the binary's checksum", s.name, target)
			}
			if st, err := os.Stat(filepath.Join(target, s.name)); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("%s release binary: %v %v", s.name, st, err)
			}
		}
	})

	t.Run("nginx", func(t *testing.T) {
		conf := f.path("etc/nginx/nginx.conf")
		if out, err := exec.Command(nginxBin, "-t", "-c", conf).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t -c %s: %v\n%s", conf, err, out)
		}
		up := readFile(t, f.path("etc/nginx/platform/upstreams.conf"))
		for _, s := range []string{"otp-service", "checkout-service"} {
			for _, p := range f.ports[s] {
				if !strings.Contains(up, fmt.Sprintf("server 127.0.0.1:%d max_fails=", p)) {
					t.Errorf("upstreams.conf lacks %s on port %d:\n%s", s, p, up)
				}
			}
		}
		if strings.Contains(up, strconv.Itoa(f.ports["magento-bridge"][0])) || !strings.Contains(up, "upstream varnish_backend") {
			t.Errorf("upstreams.conf routes to magento-bridge or lacks Varnish:\n%s", up)
		}
	})

	t.Run("machine settings", func(t *testing.T) {
		checks := []struct{ file, want string }{
			{"etc/security/limits.d/90-magefleet.conf", "hard nofile 65536"},
			{"etc/sysctl.d/90-magefleet.conf", "net.core.somaxconn = 4096"},
			{"etc/nftables.conf", "tcp dport { 80, 443 } accept"},
			{"etc/nftables.conf", "policy drop;"},
			{"home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 alice@example"},
		}
		for _, c := range checks {
			if got := readFile(t, f.path(c.file)); !strings.Contains(got, c.want) {
				t.Errorf("%s lacks %q:\n%s", c.file, c.want, got)
			}
		}
		var all []int
		for _, ps := range f.ports {
			all = append(all, ps...)
		}
		slices.Sort(all)
		ports := fmt.Sprintf("tcp dport { %s } accept", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(all)), ", "), "[]"))
		if fw := readFile(t, f.path("etc/nftables.conf")); !strings.Contains(fw, "ip saddr 127.0.0.1 "+ports) {
			t.Errorf("nftables.conf does not open the service ports to the edge only (%s):\n%s", ports, fw)
		}
	})

	t.Run("filebeat", func(t *testing.T) {
		path := f.path("etc/filebeat/filebeat.yml")
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("filebeat.yml: %v %v; want mode 0600", st, err)
		}
		fb := yamlFile(t, path)
		inputs, _ := fb["filebeat.inputs"].([]any)
		if len(inputs) != 2 {
			t.Fatalf("filebeat inputs %v; want nginx and the services' journal", inputs)
		}
		nginxIn := inputs[0].(map[string]any)
		if paths := fmt.Sprint(nginxIn["paths"]); !strings.Contains(paths, f.path("var/log/nginx/*.json.log")) {
			t.Errorf("filebeat reads %s; want the JSON access logs", paths)
		}
		if fmt.Sprint(inputs[1].(map[string]any)["include_matches.match"]) != "[SYSLOG_IDENTIFIER=otp-service SYSLOG_IDENTIFIER=checkout-service SYSLOG_IDENTIFIER=magento-bridge]" {
			t.Errorf("journald input %v; want the three services", inputs[1])
		}
		if fb["output.elasticsearch"] == nil {
			t.Errorf("no Elasticsearch output: %v", fb)
		}
	})

	t.Run("magento settings", func(t *testing.T) {
		log := readFile(t, filepath.Join(f.dir, "magento.log"))
		for _, want := range []string{
			"setup:config:set --no-interaction --session-save=redis --session-save-redis-host=127.0.0.1",
			"--cache-backend=redis",
			"--session-save-redis-password=magento-redis-secret",
			"config:set login_as_customer/general/enabled 1",
			"config:set payment/purchaseorder/active 1",
			"config:set payment/purchaseorder/title Paid on secure checkout",
			"config:set oauth/consumer/enable_integration_as_bearer 1",
			"config:set system/full_page_cache/caching_application 2",
			"cache:clean config full_page",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("bin/magento was not run with %q; ran:\n%s", want, log)
			}
		}
		if strings.Contains(out, "magento-redis-secret") || strings.Contains(out, otpHashKey) || strings.Contains(out, "ansible-test-password") || strings.Contains(out, "word$x") {
			t.Errorf("ansible output shows a secret:\n%s", out)
		}
	})

	if t.Failed() {
		return
	}
	// The rolling deploy, otp-service only (two instances behind nginx),
	// with services managed by the fake systemctl and /readyz answered by
	// the stub.
	deploy := func(version string) map[string]any {
		return map[string]any{
			"platform_manage_services": true,
			"platform_version":         version,
			"platform_services": []map[string]any{{
				"name": "otp-service", "env_prefix": "OTP", "edge": true,
				"config":        serviceConfig("{otp}:"),
				"secret_config": map[string]any{},
				"secrets":       serviceSecrets("otp", nil),
			}},
		}
	}
	p1, p2 := f.ports["otp-service"][0], f.ports["otp-service"][1]
	release := func(v string) string { return f.path("opt/magefleet/otp-service/releases/" + v) }

	t.Run("deploy rolls one instance at a time", func(t *testing.T) {
		before := len(f.callLines(t))
		out, err := f.playbook(t, "deploy.yml", deploy("v2"))
		if err != nil {
			t.Fatalf("deploy.yml v2: %v\n%s", err, out)
		}
		calls := f.callLines(t)[before:]
		want := []string{
			"otp-service migrate --config " + f.path("etc/otp-service/config.yaml") + " env:OTP_MAGENTO_ADMIN_PASSWORD OTP_MAGENTO_ADMIN_USERNAME OTP_MYSQL_DSN",
			"systemctl daemon-reload",
			"nginx-reload",
			fmt.Sprintf("systemctl enable otp-service@%d.service", p1),
			fmt.Sprintf("systemctl restart otp-service@%d.service", p1),
			"nginx-reload",
			"nginx-reload",
			fmt.Sprintf("systemctl enable otp-service@%d.service", p2),
			fmt.Sprintf("systemctl restart otp-service@%d.service", p2),
			"nginx-reload",
		}
		if got := strings.Join(calls, "\n"); strings.TrimSpace(got) != strings.Join(want, "\n") {
			t.Errorf("deploy ran\n%s\nwant\n%s", got, strings.Join(want, "\n"))
		}
		// Each drain marks exactly the instance being replaced "down".
		snaps := f.snapshots(t)
		if len(snaps) != 4 {
			t.Fatalf("%d nginx reloads; want 4 (drain and restore, twice)", len(snaps))
		}
		for i, s := range snaps {
			downP1 := strings.Contains(s, fmt.Sprintf("127.0.0.1:%d max_fails=3 fail_timeout=10s down;", p1))
			downP2 := strings.Contains(s, fmt.Sprintf("127.0.0.1:%d max_fails=3 fail_timeout=10s down;", p2))
			want := [][2]bool{{true, false}, {false, false}, {false, true}, {false, false}}[i]
			if downP1 != want[0] || downP2 != want[1] || strings.Count(s, " down;") != btoi(want[0])+btoi(want[1]) {
				t.Errorf("reload %d: upstreams\n%s\nwant down %d=%v %d=%v", i, s, p1, want[0], p2, want[1])
			}
		}
		if target, _ := os.Readlink(f.ready.current); target != release("v2") {
			t.Errorf("current → %s; want %s", target, release("v2"))
		}
		if f.ready.hits.Load() < 2 {
			t.Errorf("/readyz was asked %d times; want each instance checked", f.ready.hits.Load())
		}
	})

	t.Run("a failed health check stops the roll on the old release", func(t *testing.T) {
		before := len(f.callLines(t))
		reloads := len(f.snapshots(t))
		out, err := f.playbook(t, "deploy.yml", deploy("bad"))
		if err == nil {
			t.Fatalf("deploy.yml of a release that never gets ready succeeded:\n%s", out)
		}
		if !strings.Contains(out, "did not become ready") {
			t.Errorf("deploy output does not say why it stopped:\n%s", out)
		}
		if target, _ := os.Readlink(f.ready.current); target != release("v2") {
			t.Errorf("current → %s after the failed deploy; want the previous %s", target, release("v2"))
		}
		calls := strings.Join(f.callLines(t)[before:], "\n")
		if n := strings.Count(calls, fmt.Sprintf("systemctl restart otp-service@%d.service", p1)); n != 2 {
			t.Errorf("first instance restarted %d times; want twice (new release, then back to the old)\n%s", n, calls)
		}
		if strings.Contains(calls, fmt.Sprintf("restart otp-service@%d.service", p2)) {
			t.Errorf("the roll went on to the second instance:\n%s", calls)
		}
		snaps := f.snapshots(t)[reloads:]
		if len(snaps) != 2 || !strings.Contains(snaps[0], " down;") || strings.Contains(snaps[1], " down;") {
			t.Errorf("nginx reloads during the failed deploy: %q; want drained, then restored", snaps)
		}
		if up := readFile(t, f.path("etc/nginx/platform/upstreams.conf")); strings.Contains(up, " down;") {
			t.Errorf("an instance is left drained:\n%s", up)
		}
	})

	t.Run("rollback to a kept release needs no build and restarts nothing already running it", func(t *testing.T) {
		before := len(f.callLines(t))
		extra := deploy("v2")
		extra["platform_build_dir"] = filepath.Join(f.dir, "no-build-here")
		out, err := f.playbook(t, "deploy.yml", extra)
		if err != nil {
			t.Fatalf("deploy.yml -e platform_version=v2: %v\n%s", err, out)
		}
		if target, _ := os.Readlink(f.ready.current); target != release("v2") {
			t.Errorf("current → %s; want %s", target, release("v2"))
		}
		for _, c := range f.callLines(t)[before:] {
			if strings.HasPrefix(c, "systemctl restart") {
				t.Errorf("re-deploying the running release restarted an instance: %s", c)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
