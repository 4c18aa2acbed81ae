package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Secret is a string that never prints: fmt, zap and JSON see "[redacted]".
// Reveal returns the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.String() }

// MarshalText implements encoding.TextMarshaler so JSON and YAML encoders
// never see the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Common holds the sections every service has.
type Common struct {
	// Env is "production" or "development"; development logs to the console
	// and enables sandbox-only endpoints where a service allows them.
	Env   string `mapstructure:"env" desc:"production or development (development: console logs, sandbox endpoints)"`
	HTTP  HTTP   `mapstructure:"http"`
	Log   Log    `mapstructure:"log"`
	MySQL MySQL  `mapstructure:"mysql"`
	Redis Redis  `mapstructure:"redis"`
}

// Validate checks every common section.
func (c Common) Validate() error {
	var p Problems
	if c.Env != "production" && c.Env != "development" {
		p.Add("env", "must be production or development, got %q", c.Env)
	}
	p.Merge("http", c.HTTP.Validate())
	p.Merge("log", c.Log.Validate())
	p.Merge("mysql", c.MySQL.Validate())
	p.Merge("redis", c.Redis.Validate())
	return p.Err()
}

// Development reports whether the service runs in development mode.
func (c Common) Development() bool { return c.Env == "development" }

// HTTP configures a service's HTTP server.
type HTTP struct {
	Addr            string        `mapstructure:"addr" desc:"listen address host:port"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout" desc:"time to read a whole request"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout" desc:"time to write a response"`
	IdleTimeout     time.Duration `mapstructure:"idle_timeout" desc:"keep-alive idle time"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" desc:"how long SIGTERM waits for in-flight requests"`
	MaxBodyBytes    int64         `mapstructure:"max_body_bytes" desc:"largest request body accepted (413 above)"`
	// TrustedProxies lists the addresses or CIDRs whose X-Forwarded-For is
	// believed; empty trusts none.
	TrustedProxies []string `mapstructure:"trusted_proxies" desc:"IPs/CIDRs whose X-Forwarded-For is believed (comma-separated in env)"`
}

// DefaultHTTP returns the HTTP defaults for a service listening on addr.
func DefaultHTTP(addr string) HTTP {
	return HTTP{
		Addr:            addr,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    30 * time.Second,
		IdleTimeout:     120 * time.Second,
		ShutdownTimeout: 20 * time.Second,
		MaxBodyBytes:    1 << 20,
		TrustedProxies:  []string{"127.0.0.1", "::1"},
	}
}

// Validate checks the section.
func (h HTTP) Validate() error {
	var p Problems
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		p.Add("addr", "must be host:port, got %q", h.Addr)
	}
	for k, d := range map[string]time.Duration{"read_timeout": h.ReadTimeout, "write_timeout": h.WriteTimeout, "idle_timeout": h.IdleTimeout, "shutdown_timeout": h.ShutdownTimeout} {
		if d <= 0 {
			p.Add(k, "must be a positive duration such as 10s, got %s", d)
		}
	}
	if h.MaxBodyBytes < 1024 {
		p.Add("max_body_bytes", "must be at least 1024, got %d", h.MaxBodyBytes)
	}
	for _, tp := range h.TrustedProxies {
		if net.ParseIP(tp) == nil {
			if _, _, err := net.ParseCIDR(tp); err != nil {
				p.Add("trusted_proxies", "%q is neither an IP address nor a CIDR", tp)
			}
		}
	}
	return p.Err()
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level" desc:"debug, info, warn or error"`
	Format string `mapstructure:"format" desc:"json or console; empty: json in production, console in development"`
}

// Validate checks the section.
func (l Log) Validate() error {
	var p Problems
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Add("level", "must be debug, info, warn or error, got %q", l.Level)
	}
	switch l.Format {
	case "", "json", "console":
	default:
		p.Add("format", "must be json or console, got %q", l.Format)
	}
	return p.Err()
}

// MySQL configures the connection pool.
type MySQL struct {
	// DSN in go-sql-driver/mysql form: user:pass@tcp(host:3306)/db.
	DSN             Secret        `mapstructure:"dsn" desc:"user:password@tcp(host:3306)/database"`
	MaxOpenConns    int           `mapstructure:"max_open_conns" desc:"pool size limit"`
	MaxIdleConns    int           `mapstructure:"max_idle_conns" desc:"idle connections kept"`
	ConnMaxLifetime time.Duration `mapstructure:"conn_max_lifetime" desc:"recycle connections after this long"`
	// MigrateOnStart applies pending migrations when serve starts.
	MigrateOnStart bool `mapstructure:"migrate_on_start" desc:"apply pending migrations when serve starts (ansible runs migrate once per deploy instead)"`
	// CreateDatabase creates the database named in the DSN when it is missing
	// (needs the CREATE privilege; production usually provisions it instead).
	CreateDatabase bool `mapstructure:"create_database" desc:"create the database when missing"`
}

// DefaultMySQL returns pool defaults for database name db on localhost.
func DefaultMySQL(db string) MySQL {
	return MySQL{
		DSN:             Secret("root@tcp(127.0.0.1:3306)/" + db),
		MaxOpenConns:    32,
		MaxIdleConns:    16,
		ConnMaxLifetime: 5 * time.Minute,
		MigrateOnStart:  true,
		CreateDatabase:  true,
	}
}

// Validate checks the section.
func (m MySQL) Validate() error {
	var p Problems
	dsn := m.DSN.Reveal()
	if dsn == "" {
		p.Add("dsn", "must be set, e.g. user:password@tcp(127.0.0.1:3306)/dbname")
	} else if i := strings.LastIndex(dsn, "/"); i < 0 || strings.TrimSpace(strings.SplitN(dsn[i+1:], "?", 2)[0]) == "" {
		p.Add("dsn", "must name a database after the last '/'")
	}
	if m.MaxOpenConns < 1 {
		p.Add("max_open_conns", "must be at least 1, got %d", m.MaxOpenConns)
	}
	if m.MaxIdleConns < 0 || m.MaxIdleConns > m.MaxOpenConns {
		p.Add("max_idle_conns", "must be between 0 and max_open_conns (%d), got %d", m.MaxOpenConns, m.MaxIdleConns)
	}
	if m.ConnMaxLifetime < 0 {
		p.Add("conn_max_lifetime", "must not be negative")
	}
	return p.Err()
}

// Redis configures the universal client: one address for a single node,
// several for Cluster, or MasterName for Sentinel.
type Redis struct {
	Addrs      []string `mapstructure:"addrs" desc:"one host:port for a single node, several for Cluster"`
	Username   string   `mapstructure:"username" desc:"ACL user"`
	Password   Secret   `mapstructure:"password" desc:"password"`
	DB         int      `mapstructure:"db" desc:"database number (single node and Sentinel)"`
	MasterName string   `mapstructure:"master_name" desc:"Sentinel master name (turns Sentinel on)"`
	// KeyPrefix is put before every key this service writes.
	KeyPrefix string `mapstructure:"key_prefix" desc:"put before every key"`
	PoolSize  int    `mapstructure:"pool_size" desc:"connections per node"`
}

// DefaultRedis returns defaults for a local Redis with the given key prefix.
func DefaultRedis(prefix string) Redis {
	return Redis{Addrs: []string{"127.0.0.1:6379"}, KeyPrefix: prefix, PoolSize: 64}
}

// Validate checks the section.
func (r Redis) Validate() error {
	var p Problems
	if len(r.Addrs) == 0 {
		p.Add("addrs", "must list at least one host:port")
	}
	for _, a := range r.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.Add("addrs", "%q is not host:port", a)
		}
	}
	if r.DB < 0 || r.DB > 15 {
		p.Add("db", "must be between 0 and 15, got %d", r.DB)
	}
	if r.PoolSize < 1 {
		p.Add("pool_size", "must be at least 1, got %d", r.PoolSize)
	}
	return p.Err()
}

// URL checks that s is an absolute http(s) URL and records a problem under key
// otherwise.
func (p *Problems) URL(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add(key, "must be an absolute http(s) URL, got %q", s)
	}
}
