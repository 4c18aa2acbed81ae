package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// SandboxConfig configures the sandbox provider.
type SandboxConfig struct {
	// Keep is how many messages per destination are kept; TTL how long.
	Keep int           `mapstructure:"keep" desc:"how many recent messages per destination the sandbox provider keeps in Redis"`
	TTL  time.Duration `mapstructure:"ttl" desc:"how long kept sandbox messages of a destination live after its latest message"`
}

// Sandbox "sends" by keeping messages in Redis, newest first, so any
// instance can read them back (GET /v1/sandbox/messages).
type Sandbox struct {
	rdb  redis.UniversalClient
	keys cache.Keys
	cfg  SandboxConfig
	now  func() time.Time
}

// NewSandbox returns the provider.
func NewSandbox(rdb redis.UniversalClient, prefix string, cfg SandboxConfig, now func() time.Time) *Sandbox {
	if cfg.Keep < 1 {
		cfg.Keep = 20
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	return &Sandbox{rdb: rdb, keys: cache.NewKeys(prefix), cfg: cfg, now: now}
}

// SandboxMessage is one kept message.
type SandboxMessage struct {
	To      string    `json:"to"`
	Channel string    `json:"channel"`
	Subject string    `json:"subject,omitempty"`
	Body    string    `json:"body"`
	SentAt  time.Time `json:"sent_at"`
}

// Name implements Provider.
func (s *Sandbox) Name() string { return "sandbox" }

func (s *Sandbox) key(to string) string { return s.keys.Tagged("sbx:"+to, "msgs") }

// Send implements Provider.
func (s *Sandbox) Send(ctx context.Context, m otp.Message) error {
	b, err := json.Marshal(SandboxMessage{To: m.To, Channel: string(m.Channel), Subject: m.Subject, Body: m.Body, SentAt: s.now().UTC()})
	if err != nil {
		return err
	}
	k := s.key(m.To)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, k, b)
		p.LTrim(ctx, k, 0, int64(s.cfg.Keep-1))
		p.PExpire(ctx, k, s.cfg.TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// Messages returns the messages kept for to, newest first: at most limit of
// them when limit > 0, else all.
func (s *Sandbox) Messages(ctx context.Context, to string, limit int) ([]SandboxMessage, error) {
	raw, err := s.rdb.LRange(ctx, s.key(to), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	out := make([]SandboxMessage, 0, len(raw))
	for _, r := range raw {
		var m SandboxMessage
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}
