package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
)

type testConfig struct {
	config.Common `mapstructure:",squash"`
	Feature       struct {
		Name     string            `mapstructure:"name"`
		Limit    int               `mapstructure:"limit"`
		Token    config.Secret     `mapstructure:"token"`
		Gateways map[string]string `mapstructure:"gateways"`
	} `mapstructure:"feature"`
}

func (c *testConfig) Validate() error {
	var p config.Problems
	p.Merge("", c.Common.Validate())
	if c.Feature.Limit < 1 {
		p.Add("feature.limit", "must be at least 1, got %d", c.Feature.Limit)
	}
	return p.Err()
}

func defaults() *testConfig {
	c := &testConfig{Common: config.Common{
		Env:   "production",
		HTTP:  config.DefaultHTTP("127.0.0.1:8081"),
		Log:   config.Log{Level: "info"},
		MySQL: config.DefaultMySQL("otp"),
		Redis: config.DefaultRedis("otp:"),
	}}
	c.Feature.Name = "default-name"
	c.Feature.Limit = 5
	return c
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	c := defaults()
	if err := config.Load(c, "OTP", "", env(nil)); err != nil {
		t.Fatalf("Load() = %v; want nil", err)
	}
	if c.HTTP.Addr != "127.0.0.1:8081" || c.Feature.Name != "default-name" || c.Redis.Addrs[0] != "127.0.0.1:6379" || c.HTTP.ReadTimeout != 10*time.Second {
		t.Fatalf("defaults not kept: %+v", c)
	}
}

func TestLoadFileThenEnvironment(t *testing.T) {
	path := writeFile(t, `
env: development
http:
  addr: 127.0.0.1:9000
  read_timeout: 3s
feature:
  name: from-file
  limit: 7
  gateways:
    sandbox-a: x
redis:
  addrs: [10.0.0.1:6379, 10.0.0.2:6379]
`)
	c := defaults()
	err := config.Load(c, "OTP", path, env(map[string]string{
		"OTP_FEATURE_LIMIT":        "9",
		"OTP_MYSQL_DSN":            "u:p@tcp(db:3306)/otp",
		"OTP_HTTP_IDLE_TIMEOUT":    "1m",
		"OTP_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,192.168.1.1",
	}))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"env from file", c.Env, "development"},
		{"addr from file", c.HTTP.Addr, "127.0.0.1:9000"},
		{"duration from file", c.HTTP.ReadTimeout, 3 * time.Second},
		{"name from file", c.Feature.Name, "from-file"},
		{"env var beats file", c.Feature.Limit, 9},
		{"env var secret", c.MySQL.DSN.Reveal(), "u:p@tcp(db:3306)/otp"},
		{"env var duration", c.HTTP.IdleTimeout, time.Minute},
		{"env var list", strings.Join(c.HTTP.TrustedProxies, "|"), "10.0.0.0/8|192.168.1.1"},
		{"list from file", len(c.Redis.Addrs), 2},
		{"map from file", c.Feature.Gateways["sandbox-a"], "x"},
		{"untouched default", c.HTTP.WriteTimeout, 30 * time.Second},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadValidationMessages(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"bad env", "", map[string]string{"OTP_ENV": "staging"}, []string{"env (OTP_ENV): must be production or development"}},
		{"bad addr", "", map[string]string{"OTP_HTTP_ADDR": "8081"}, []string{"http.addr (OTP_HTTP_ADDR): must be host:port"}},
		{"zero timeout", "http:\n  read_timeout: 0s\n", nil, []string{"http.read_timeout (OTP_HTTP_READ_TIMEOUT): must be a positive duration"}},
		{"bad level", "", map[string]string{"OTP_LOG_LEVEL": "loud"}, []string{"log.level (OTP_LOG_LEVEL): must be debug, info, warn or error"}},
		{"no database", "", map[string]string{"OTP_MYSQL_DSN": "root@tcp(127.0.0.1:3306)/"}, []string{"mysql.dsn (OTP_MYSQL_DSN): must name a database"}},
		{"idle above open", "mysql:\n  max_open_conns: 2\n  max_idle_conns: 3\n", nil, []string{"mysql.max_idle_conns (OTP_MYSQL_MAX_IDLE_CONNS): must be between 0 and max_open_conns (2)"}},
		{"bad redis addr", "", map[string]string{"OTP_REDIS_ADDRS": "localhost"}, []string{"redis.addrs (OTP_REDIS_ADDRS): \"localhost\" is not host:port"}},
		{"bad proxy", "", map[string]string{"OTP_HTTP_TRUSTED_PROXIES": "nope"}, []string{"http.trusted_proxies (OTP_HTTP_TRUSTED_PROXIES): \"nope\" is neither"}},
		{"service section", "feature:\n  limit: 0\n", nil, []string{"feature.limit (OTP_FEATURE_LIMIT): must be at least 1, got 0"}},
		{"two problems", "", map[string]string{"OTP_ENV": "x", "OTP_FEATURE_LIMIT": "-1"}, []string{"env (OTP_ENV)", "feature.limit (OTP_FEATURE_LIMIT)"}},
		{"unknown key", "feature:\n  limt: 3\n", nil, []string{`unknown key "feature.limt"`}},
		{"not a number", "", map[string]string{"OTP_FEATURE_LIMIT": "many"}, []string{"limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			err := config.Load(defaults(), "OTP", path, env(tt.env))
			if err == nil {
				t.Fatalf("Load() = nil; want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingFileNamesIt(t *testing.T) {
	err := config.Load(defaults(), "OTP", "/nonexistent/config.yaml", env(nil))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/config.yaml") {
		t.Fatalf("Load() = %v; want a not-exist error naming the file", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := defaults()
	err := config.Load(c, "OTP", "", env(map[string]string{
		"OTP_MYSQL_DSN": "root:hunter2@tcp(127.0.0.1:3306)/", "OTP_FEATURE_TOKEN": "sk_live_abc",
	}))
	if err == nil {
		t.Fatal("want a validation error for the DSN without a database")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", c, c, c.MySQL), c.Feature.Token.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "sk_live_abc") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if c.Feature.Token.Reveal() != "sk_live_abc" {
		t.Fatalf("Reveal() = %q", c.Feature.Token.Reveal())
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("CHECKOUT", "mysql.max_open_conns"); got != "CHECKOUT_MYSQL_MAX_OPEN_CONNS" {
		t.Fatalf("EnvName() = %q", got)
	}
}
