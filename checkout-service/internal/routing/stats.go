package routing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/cache"
)

// Breaker states.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// Outcomes recorded in the windows.
const (
	OutcomeOK        = "ok"        // captured, authorised or requires_action
	OutcomeDecline   = "decline"   // an issuer or shopper decline: counts against success, not against health
	OutcomeTechnical = "technical" // timeout, 5xx, processing_error: counts against both
)

type rateKey struct {
	gateway, method, currency string
}

// Counts are a window's outcomes.
type Counts struct {
	OK        int64 `json:"ok"`
	Declined  int64 `json:"declined"`
	Technical int64 `json:"technical"`
}

// Total is the number of attempts counted.
func (c Counts) Total() int64 { return c.OK + c.Declined + c.Technical }

// GatewayStats is one gateway's state in a Snapshot.
type GatewayStats struct {
	Gateway       string            `json:"gateway"`
	Breaker       string            `json:"breaker"`
	OpenUntil     *time.Time        `json:"open_until,omitempty"`
	Window        Counts            `json:"window"`          // since the breaker last reset
	TechErrorRate float64           `json:"tech_error_rate"` // over Window
	ByMethod      map[string]Counts `json:"by_method_currency"`
}

// Snapshot is the statistics a decision reads: success windows per gateway,
// method and currency, and breaker states. The zero Snapshot (or nil) knows
// nothing: every rate is the prior, every breaker closed.
type Snapshot struct {
	At       time.Time
	rates    map[rateKey]Counts
	breakers map[string]string
	Gateways []GatewayStats
}

// Breaker returns a gateway's breaker state.
func (s *Snapshot) Breaker(name string) string {
	if s == nil || s.breakers == nil {
		return BreakerClosed
	}
	if b, ok := s.breakers[name]; ok {
		return b
	}
	return BreakerClosed
}

// Rate estimates a gateway's success rate for a method and currency: the
// observed rate smoothed towards the prior with weight MinSamples.
func (s *Snapshot) Rate(name string, m gateway.Method, currency string, sr SuccessRateConf) (float64, int64) {
	var c Counts
	if s != nil && s.rates != nil {
		c = s.rates[rateKey{name, string(m), currency}]
	}
	n := c.Total()
	w := float64(sr.MinSamples)
	if n == 0 && w == 0 {
		return sr.Prior, 0
	}
	return (float64(c.OK) + sr.Prior*w) / (float64(n) + w), n
}

// SetRate records counts in the snapshot (for tests and dry-runs).
func (s *Snapshot) SetRate(name string, m gateway.Method, currency string, c Counts) {
	if s.rates == nil {
		s.rates = map[rateKey]Counts{}
	}
	s.rates[rateKey{name, string(m), currency}] = c
}

// SetBreaker records a breaker state in the snapshot (for tests).
func (s *Snapshot) SetBreaker(name, state string) {
	if s.breakers == nil {
		s.breakers = map[string]string{}
	}
	s.breakers[name] = state
}

// StatsConfig tunes the windows and the breakers.
type StatsConfig struct {
	// Window is how far back success rates look, in one-minute buckets.
	Window time.Duration
	// TripRate is the technical error rate that opens a breaker once
	// MinSamples attempts are in the window.
	TripRate   float64
	MinSamples int64
	// Cooldown is how long a breaker stays open before probing.
	Cooldown time.Duration
	// ProbeSuccesses close a half-open breaker.
	ProbeSuccesses int64
}

// Stats keeps outcome windows and breakers in Redis, shared by every
// instance. Keys are hash-tagged by gateway, so the Lua script touches one
// slot in cluster mode. Stats is safe for concurrent use.
type Stats struct {
	rdb  redis.UniversalClient
	keys cache.Keys
	cfg  StatsConfig
	now  func() time.Time
}

// NewStats returns Stats over rdb; a nil now means time.Now.
func NewStats(rdb redis.UniversalClient, prefix string, cfg StatsConfig, now func() time.Time) *Stats {
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.TripRate <= 0 {
		cfg.TripRate = 0.5
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = 10
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 30 * time.Second
	}
	if cfg.ProbeSuccesses <= 0 {
		cfg.ProbeSuccesses = 3
	}
	if now == nil {
		now = time.Now
	}
	return &Stats{rdb: rdb, keys: cache.NewKeys(prefix + "routing:"), cfg: cfg, now: now}
}

func (s *Stats) bucket(gw string, t time.Time) string {
	return s.keys.Tagged(gw, "w", strconv.FormatInt(t.Unix()/60, 10))
}

func (s *Stats) breakerKey(gw string) string { return s.keys.Tagged(gw, "breaker") }

// record: KEYS[1] bucket, KEYS[2] breaker; ARGV: field, ttl, now, cooldown, probes, outcome.
var recordScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
local now = tonumber(ARGV[3])
local st = redis.call('HGET', KEYS[2], 'state')
if st == 'open' then
  if now < tonumber(redis.call('HGET', KEYS[2], 'until') or '0') then return 'open' end
  st = 'half_open'
end
if st == 'half_open' then
  if ARGV[6] == 'technical' then
    redis.call('HSET', KEYS[2], 'state', 'open', 'until', now + tonumber(ARGV[4]), 'reset_at', now, 'probes_ok', 0)
    return 'open'
  elseif ARGV[6] == 'ok' then
    local n = redis.call('HINCRBY', KEYS[2], 'probes_ok', 1)
    if n >= tonumber(ARGV[5]) then
      redis.call('HSET', KEYS[2], 'state', 'closed', 'reset_at', now, 'probes_ok', 0)
      return 'closed'
    end
    redis.call('HSET', KEYS[2], 'state', 'half_open')
  end
  return 'half_open'
end
return 'closed'
`)

// Record counts one attempt's outcome and advances a half-open breaker.
func (s *Stats) Record(ctx context.Context, gw string, m gateway.Method, currency, outcome string) error {
	now := s.now()
	field := string(m) + "|" + currency + "|" + outcome
	return recordScript.Run(ctx, s.rdb, []string{s.bucket(gw, now), s.breakerKey(gw)},
		field, int64(s.cfg.Window/time.Second)+120, now.Unix(), int64(s.cfg.Cooldown/time.Second), s.cfg.ProbeSuccesses, outcome).Err()
}

// trip opens a closed breaker.
var tripScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'open' or st == 'half_open' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'open', 'until', ARGV[1], 'reset_at', ARGV[2], 'probes_ok', 0)
return 1
`)

// Load reads the windows and breakers of the named gateways and opens the
// breaker of any closed gateway whose technical error rate crossed the
// threshold.
func (s *Stats) Load(ctx context.Context, gateways []string) (*Snapshot, error) {
	now := s.now()
	minutes := int(s.cfg.Window / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	pipe := s.rdb.Pipeline()
	buckets := make([][]*redis.MapStringStringCmd, len(gateways))
	brk := make([]*redis.MapStringStringCmd, len(gateways))
	for i, gw := range gateways {
		brk[i] = pipe.HGetAll(ctx, s.breakerKey(gw))
		for m := 0; m < minutes; m++ {
			buckets[i] = append(buckets[i], pipe.HGetAll(ctx, s.bucket(gw, now.Add(-time.Duration(m)*time.Minute))))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("routing stats: %w", err)
	}
	snap := &Snapshot{At: now, rates: map[rateKey]Counts{}, breakers: map[string]string{}}
	for i, gw := range gateways {
		b := brk[i].Val()
		state := b["state"]
		if state == "" {
			state = BreakerClosed
		}
		until, _ := strconv.ParseInt(b["until"], 10, 64)
		resetAt, _ := strconv.ParseInt(b["reset_at"], 10, 64)
		if state == BreakerOpen && now.Unix() >= until {
			state = BreakerHalfOpen
		}
		gs := GatewayStats{Gateway: gw, ByMethod: map[string]Counts{}}
		for m, cmd := range buckets[i] {
			bucketStart := now.Add(-time.Duration(m)*time.Minute).Unix() / 60 * 60
			counted := bucketStart+60 > resetAt // buckets after the last reset count for health
			for field, v := range cmd.Val() {
				parts := strings.Split(field, "|")
				if len(parts) != 3 {
					continue
				}
				n, _ := strconv.ParseInt(v, 10, 64)
				k := rateKey{gw, parts[0], parts[1]}
				c := snap.rates[k]
				add(&c, parts[2], n)
				snap.rates[k] = c
				mc := gs.ByMethod[parts[0]+"/"+parts[1]]
				add(&mc, parts[2], n)
				gs.ByMethod[parts[0]+"/"+parts[1]] = mc
				if counted {
					add(&gs.Window, parts[2], n)
				}
			}
		}
		if t := gs.Window.Total(); t > 0 {
			gs.TechErrorRate = float64(gs.Window.Technical) / float64(t)
		}
		if state == BreakerClosed && gs.Window.Total() >= s.cfg.MinSamples && gs.TechErrorRate >= s.cfg.TripRate {
			u := now.Add(s.cfg.Cooldown).Unix()
			if err := tripScript.Run(ctx, s.rdb, []string{s.breakerKey(gw)}, u, now.Unix()).Err(); err != nil {
				return nil, fmt.Errorf("routing stats: trip %s: %w", gw, err)
			}
			state, until = BreakerOpen, u
		}
		gs.Breaker = state
		if state == BreakerOpen {
			t := time.Unix(until, 0).UTC()
			gs.OpenUntil = &t
		}
		snap.breakers[gw] = state
		snap.Gateways = append(snap.Gateways, gs)
	}
	return snap, nil
}

func add(c *Counts, outcome string, n int64) {
	switch outcome {
	case OutcomeOK:
		c.OK += n
	case OutcomeDecline:
		c.Declined += n
	case OutcomeTechnical:
		c.Technical += n
	}
}
