// Package otpstore implements otp's stores: challenges, limits and breaker
// windows in Redis (shared by every instance, Cluster-safe through hash
// tags), identities, refresh tokens and the audit log in MySQL.
package otpstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Redis is otp.Store over Redis. Every key of one destination (its challenge
// and its verify counter) carries the destination's tag as Cluster hash tag,
// so the scripts that touch them together run in one slot. It is safe for
// concurrent use.
type Redis struct {
	rdb  redis.UniversalClient
	keys cache.Keys
}

var _ otp.Store = (*Redis)(nil)

// NewRedis returns a store over rdb whose keys start with prefix.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, keys: cache.NewKeys(prefix)}
}

// limitScript counts one event in a window that opens at the first event
// and lasts ARGV[2] ms, on the service's clock (ARGV[3], ms): it returns 0
// within the limit, else the milliseconds until the window closes. Redis's
// own expiry only collects the key afterwards.
var limitScript = redis.NewScript(limitLua + `
return hit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))`)

const limitLua = `
local function hit(key, limit, window, now)
  local h = redis.call('HMGET', key, 'n', 'r')
  local n, r = tonumber(h[1]) or 0, tonumber(h[2]) or 0
  if now >= r then n = 0; r = now + window end
  n = n + 1
  redis.call('HSET', key, 'n', n, 'r', r)
  redis.call('PEXPIRE', key, r - now + 60000)
  if n > limit then return r - now end
  return 0
end
`

// breakerScript checks a scope: it returns the milliseconds left of a pause
// (paused until the time stored in KEYS[1], on the service's clock), 0 when
// sending is allowed, or -pause when it has just tripped the breaker because
// at least ARGV[3] sends in the window were verified at a ratio below
// ARGV[4].
var breakerScript = redis.NewScript(`
local now = tonumber(ARGV[6])
local u = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < u then return u - now end
local b = tonumber(ARGV[1]); local n = tonumber(ARGV[2])
local f = {}
for i = 0, n - 1 do f[#f + 1] = tostring(b - i) end
local s = redis.call('HMGET', KEYS[2], unpack(f))
local v = redis.call('HMGET', KEYS[3], unpack(f))
local sent, ver = 0, 0
for i = 1, n do sent = sent + (tonumber(s[i]) or 0); ver = ver + (tonumber(v[i]) or 0) end
if sent >= tonumber(ARGV[3]) and ver < sent * tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], now + tonumber(ARGV[5]), 'PX', tonumber(ARGV[5]) + 60000)
  redis.call('DEL', KEYS[2], KEYS[3])
  return -tonumber(ARGV[5])
end
return 0`)

// countScript adds one to the current bucket of a breaker window and drops
// the bucket that just left it.
var countScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HDEL', KEYS[1], tostring(tonumber(ARGV[1]) - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// saveScript replaces a destination's challenge.
var saveScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

// attemptScript counts a verify against the destination's verify limit and
// the challenge's attempts before anything is compared, and returns the
// challenge's fields. The challenge dies once its attempts are exhausted.
var attemptScript = redis.NewScript(limitLua + `
if tonumber(ARGV[3]) > 0 then
  local wait = hit(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
  if wait > 0 then return {'limited', wait} end
end
local h = redis.call('HMGET', KEYS[1], 'id', 'kid', 'mac', 'kind', 'dest', 'country', 'prefix', 'channel', 'client', 'locale', 'exp')
if not h[1] or h[1] ~= ARGV[1] then return {'missing'} end
local a = redis.call('HINCRBY', KEYS[1], 'att', 1)
if a > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {'locked', h[8], h[6], h[4], h[5]}
end
return {'ok', a, h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]}`)

// consumeScript deletes the challenge if it is still the one named; only one
// caller can see 1.
var consumeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)

var scripts = []*redis.Script{limitScript, breakerScript, countScript, saveScript, attemptScript, consumeScript}

// Load loads the scripts, so pipelines can run them by hash.
func (r *Redis) Load(ctx context.Context) error {
	for _, s := range scripts {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return fmt.Errorf("load redis script: %w", err)
		}
	}
	return nil
}

// pipelined runs fn's commands in one pipeline; after a Redis restart has
// flushed the script cache (NOSCRIPT) it reloads the scripts and runs it once
// more. Commands must be safe to repeat in that case: they failed as a whole.
func (r *Redis) pipelined(ctx context.Context, fn func(redis.Pipeliner)) ([]redis.Cmder, error) {
	run := func(p redis.Pipeliner) error { fn(p); return nil }
	cmds, err := r.rdb.Pipelined(ctx, run)
	if err != nil && isNoScript(cmds) {
		if lerr := r.Load(ctx); lerr != nil {
			return nil, lerr
		}
		cmds, err = r.rdb.Pipelined(ctx, run)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return cmds, fmt.Errorf("redis: %w", err)
	}
	return cmds, nil
}

func isNoScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() != nil && strings.HasPrefix(c.Err().Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }

func (r *Redis) limitKey(l otp.Limit) string { return r.keys.Tagged("l:"+l.Name+":"+l.Subject, "n") }

func (r *Redis) scopeKeys(scope string) (paused, sent, verified string) {
	tag := "b:" + scope
	return r.keys.Tagged(tag, "paused"), r.keys.Tagged(tag, "sent"), r.keys.Tagged(tag, "ver")
}

func bucket(b otp.Breaker, now time.Time) int64 {
	return now.UnixMilli() / ms(b.Window/time.Duration(b.Buckets))
}

// Gate implements otp.Store: one pipeline counts every limit and checks
// every breaker scope.
func (r *Redis) Gate(ctx context.Context, g otp.Gate) (otp.GateResult, error) {
	var res otp.GateResult
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		for _, l := range g.Limits {
			limitScript.EvalSha(ctx, p, []string{r.limitKey(l)}, l.Count, ms(l.Window), g.Now.UnixMilli())
		}
		for _, s := range g.Scopes {
			paused, sent, ver := r.scopeKeys(s)
			breakerScript.EvalSha(ctx, p, []string{paused, sent, ver},
				bucket(g.Breaker, g.Now), g.Breaker.Buckets, g.Breaker.MinSent, strconv.FormatFloat(g.Breaker.MinRatio, 'f', -1, 64), ms(g.Breaker.Pause), g.Now.UnixMilli())
		}
	})
	if err != nil {
		return res, err
	}
	for i, l := range g.Limits {
		wait, err := cmds[i].(*redis.Cmd).Int64()
		if err != nil {
			return res, fmt.Errorf("redis limit %s: %w", l.Name, err)
		}
		if wait > 0 {
			if res.Limited == nil {
				res.Limited = &g.Limits[i]
			}
			res.RetryAfter = max(res.RetryAfter, time.Duration(wait)*time.Millisecond)
		}
	}
	for i, s := range g.Scopes {
		v, err := cmds[len(g.Limits)+i].(*redis.Cmd).Int64()
		if err != nil {
			return res, fmt.Errorf("redis breaker %s: %w", s, err)
		}
		if v < 0 {
			res.Tripped = append(res.Tripped, s)
			v = -v
		}
		if v > 0 && res.Paused == "" {
			res.Paused, res.PausedFor = s, time.Duration(v)*time.Millisecond
		}
	}
	return res, nil
}

func (r *Redis) challengeKey(id string) string {
	return r.keys.Tagged("d:"+otp.ChallengeTag(id), "ch")
}

// SaveChallenge implements otp.Store.
func (r *Redis) SaveChallenge(ctx context.Context, c *otp.Challenge, scopes []string, b otp.Breaker, now time.Time) error {
	ttl := c.ExpiresAt.Sub(now) + 30*time.Second // the expiry itself is checked against the service's clock
	args := []any{ms(ttl),
		"id", c.ID, "kid", c.KeyID, "mac", hex.EncodeToString(c.MAC), "kind", c.Dest.Kind, "dest", c.Dest.Value,
		"country", c.Dest.Country, "prefix", c.Dest.Prefix, "channel", string(c.Channel), "client", c.ClientID,
		"locale", c.Locale, "exp", c.ExpiresAt.UnixMilli(), "att", 0}
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		saveScript.EvalSha(ctx, p, []string{r.challengeKey(c.ID)}, args...)
		r.count(ctx, p, scopes, b, now, false)
	})
	return err
}

func (r *Redis) count(ctx context.Context, p redis.Pipeliner, scopes []string, b otp.Breaker, now time.Time, verified bool) {
	for _, s := range scopes {
		_, sent, ver := r.scopeKeys(s)
		key := sent
		if verified {
			key = ver
		}
		countScript.EvalSha(ctx, p, []string{key}, bucket(b, now), b.Buckets, ms(2*b.Window))
	}
}

// DeleteChallenge implements otp.Store.
func (r *Redis) DeleteChallenge(ctx context.Context, id string) error {
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(id)}, id)
	})
	return err
}

// Attempt implements otp.Store: the IP limit and the attempt script run in
// one pipeline, one round trip.
func (r *Redis) Attempt(ctx context.Context, id string, ip, dest otp.Limit, maxAttempts int, now time.Time) (*otp.Challenge, otp.AttemptStatus, time.Duration, error) {
	destKey := r.keys.Tagged("d:"+otp.ChallengeTag(id), "vl")
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		if ip.Count > 0 {
			limitScript.EvalSha(ctx, p, []string{r.limitKey(ip)}, ip.Count, ms(ip.Window), now.UnixMilli())
		}
		attemptScript.EvalSha(ctx, p, []string{r.challengeKey(id), destKey}, id, maxAttempts, dest.Count, ms(dest.Window), now.UnixMilli())
	})
	if err != nil {
		return nil, 0, 0, err
	}
	if ip.Count > 0 {
		wait, err := cmds[0].(*redis.Cmd).Int64()
		if err != nil {
			return nil, 0, 0, fmt.Errorf("redis limit: %w", err)
		}
		if wait > 0 {
			return nil, otp.AttemptLimited, time.Duration(wait) * time.Millisecond, nil
		}
	}
	vals, err := cmds[len(cmds)-1].(*redis.Cmd).Slice()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("redis attempt: %w", err)
	}
	str := func(i int) string {
		if i < len(vals) {
			if s, ok := vals[i].(string); ok {
				return s
			}
		}
		return ""
	}
	switch str(0) {
	case "limited":
		wait, _ := vals[1].(int64)
		return nil, otp.AttemptLimited, time.Duration(wait) * time.Millisecond, nil
	case "missing":
		return nil, otp.AttemptMissing, 0, nil
	case "locked":
		c := &otp.Challenge{ID: id, Channel: otp.Channel(str(1)), Dest: otp.Destination{Country: str(2), Kind: str(3), Value: str(4)}}
		return c, otp.AttemptLocked, 0, nil
	}
	att, _ := vals[1].(int64)
	mac, err := hex.DecodeString(str(3))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("redis attempt: bad mac: %w", err)
	}
	exp, _ := strconv.ParseInt(str(11), 10, 64)
	c := &otp.Challenge{
		ID: id, Attempts: int(att), KeyID: str(2), MAC: mac,
		Dest:    otp.Destination{Kind: str(4), Value: str(5), Country: str(6), Prefix: str(7)},
		Channel: otp.Channel(str(8)), ClientID: str(9), Locale: str(10), ExpiresAt: time.UnixMilli(exp),
	}
	return c, otp.AttemptOK, 0, nil
}

// Consume implements otp.Store.
func (r *Redis) Consume(ctx context.Context, c *otp.Challenge, scopes []string, b otp.Breaker, now time.Time) (bool, error) {
	var won bool
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(c.ID)}, c.ID)
	})
	if err != nil {
		return false, err
	}
	n, err := cmds[0].(*redis.Cmd).Int64()
	if err != nil {
		return false, fmt.Errorf("redis consume: %w", err)
	}
	won = n == 1
	if won && len(scopes) > 0 {
		_, err = r.pipelined(ctx, func(p redis.Pipeliner) { r.count(ctx, p, scopes, b, now, true) })
	}
	return won, err
}
