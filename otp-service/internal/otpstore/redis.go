// Package otpstore implements otp's stores: challenges, limits and breaker
// windows in Redis (shared by every instance, Cluster-safe through hash
// tags), identities, refresh tokens and the audit log in MySQL.
package otpstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
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

// breakerScript checks a scope and, when sending is allowed, counts the send
// in the current bucket of the window: it returns the milliseconds left of a
// pause (paused until the time stored in KEYS[1], on the service's clock), 0
// when sending is allowed, or -pause when it has just tripped the breaker
// because at least ARGV[3] sends in the window were verified at a ratio
// below ARGV[4].
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
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HDEL', KEYS[2], tostring(b - n))
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 0`)

// countScript adds one to the current bucket of a breaker window and drops
// the bucket that just left it.
var countScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HDEL', KEYS[1], tostring(tonumber(ARGV[1]) - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// saveScript counts the per-destination limits (KEYS[2..], ARGV[3] of them,
// each with count and window in ARGV) and, when all allow it, replaces the
// destination's challenge (KEYS[1]) with the fields that follow. It returns
// {0, 0} when saved, else {index of the first refusing limit, wait ms}.
var saveScript = redis.NewScript(limitLua + `
local now = tonumber(ARGV[2]); local n = tonumber(ARGV[3])
local wait, which = 0, 0
for i = 1, n do
  local w = hit(KEYS[1 + i], tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i]), now)
  if w > 0 and which == 0 then which = i end
  if w > wait then wait = w end
end
if which > 0 then return {which, wait} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4 + 2 * n))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {0, 0}`)

// uncountScript takes back a send counted in a breaker window.
var uncountScript = redis.NewScript(`
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) < 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
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
local idn = redis.call('GET', KEYS[3]) or ''
local mtok = redis.call('GET', KEYS[4]) or ''
return {'ok', a, h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], idn, mtok}`)

// consumeScript deletes the challenge if it is still the one named; only one
// caller can see 1.
var consumeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)

var scripts = []*redis.Script{limitScript, breakerScript, countScript, uncountScript, saveScript, attemptScript, consumeScript}

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

func (r *Redis) destKey(challengeID, name string) string {
	return r.keys.Tagged("d:"+otp.ChallengeTag(challengeID), name)
}

func (r *Redis) challengeKey(id string) string { return r.destKey(id, "ch") }

// Start implements otp.Store in one round trip on the normal path: one
// pipeline counts the limits, checks the breaker scopes (counting the send
// where allowed) and runs the destination's save script. Only a refusal costs a second round
// trip, to undo the save and the count.
func (r *Redis) Start(ctx context.Context, g otp.Gate, c *otp.Challenge) (otp.GateResult, error) {
	var res otp.GateResult
	var shared, dest []int
	for i, l := range g.Limits {
		if l.PerDestination {
			dest = append(dest, i)
		} else {
			shared = append(shared, i)
		}
	}
	saveKeys := []string{r.challengeKey(c.ID)}
	saveArgs := []any{ms(c.ExpiresAt.Sub(g.Now) + 30*time.Second), g.Now.UnixMilli(), len(dest)}
	for _, i := range dest {
		saveKeys = append(saveKeys, r.destKey(c.ID, "l:"+g.Limits[i].Name))
		saveArgs = append(saveArgs, g.Limits[i].Count, ms(g.Limits[i].Window))
	}
	saveArgs = append(saveArgs,
		"id", c.ID, "kid", c.KeyID, "mac", hex.EncodeToString(c.MAC), "kind", c.Dest.Kind, "dest", c.Dest.Value,
		"country", c.Dest.Country, "prefix", c.Dest.Prefix, "channel", string(c.Channel), "client", c.ClientID,
		"locale", c.Locale, "exp", c.ExpiresAt.UnixMilli(), "att", 0)
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		for _, i := range shared {
			l := g.Limits[i]
			limitScript.EvalSha(ctx, p, []string{r.limitKey(l)}, l.Count, ms(l.Window), g.Now.UnixMilli())
		}
		for _, s := range g.Scopes {
			paused, sent, ver := r.scopeKeys(s)
			breakerScript.EvalSha(ctx, p, []string{paused, sent, ver},
				bucket(g.Breaker, g.Now), g.Breaker.Buckets, g.Breaker.MinSent, strconv.FormatFloat(g.Breaker.MinRatio, 'f', -1, 64),
				ms(g.Breaker.Pause), g.Now.UnixMilli(), ms(2*g.Breaker.Window))
		}
		saveScript.EvalSha(ctx, p, saveKeys, saveArgs...)
	})
	if err != nil {
		return res, err
	}
	first := len(g.Limits)
	refuse := func(i int, wait int64) {
		if wait <= 0 {
			return
		}
		if i < first { // report the first refusing limit in g's order
			first, res.Limited = i, &g.Limits[i]
		}
		res.RetryAfter = max(res.RetryAfter, time.Duration(wait)*time.Millisecond)
	}
	saved, err := cmds[len(cmds)-1].(*redis.Cmd).Int64Slice()
	if err != nil {
		return res, fmt.Errorf("redis save challenge: %w", err)
	}
	if saved[0] > 0 {
		refuse(dest[saved[0]-1], saved[1])
	}
	for k, i := range shared {
		wait, err := cmds[k].(*redis.Cmd).Int64()
		if err != nil {
			return res, fmt.Errorf("redis limit %s: %w", g.Limits[i].Name, err)
		}
		refuse(i, wait)
	}
	var counted []string
	for k, s := range g.Scopes {
		v, err := cmds[len(shared)+k].(*redis.Cmd).Int64()
		if err != nil {
			return res, fmt.Errorf("redis breaker %s: %w", s, err)
		}
		if v == 0 {
			counted = append(counted, s)
		}
		if v < 0 {
			res.Tripped = append(res.Tripped, s)
			v = -v
		}
		if v > 0 && res.Paused == "" {
			res.Paused, res.PausedFor = s, time.Duration(v)*time.Millisecond
		}
	}
	if res.Limited == nil && res.Paused == "" {
		return res, nil
	}
	// Refused: take back the sends counted and the challenge (if saved).
	_, err = r.pipelined(ctx, func(p redis.Pipeliner) {
		for _, s := range counted {
			_, sent, _ := r.scopeKeys(s)
			uncountScript.EvalSha(ctx, p, []string{sent}, bucket(g.Breaker, g.Now))
		}
		if saved[0] == 0 {
			consumeScript.EvalSha(ctx, p, []string{r.challengeKey(c.ID)}, c.ID)
		}
	})
	return res, err
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
// one pipeline, one round trip; the script also reads the destination's
// cached identity and Magento token.
func (r *Redis) Attempt(ctx context.Context, id string, ip, dest otp.Limit, maxAttempts int, now time.Time) (*otp.AttemptResult, error) {
	keys := []string{r.challengeKey(id), r.destKey(id, "vl"), r.destKey(id, "idn"), r.destKey(id, "mtok")}
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		if ip.Count > 0 {
			limitScript.EvalSha(ctx, p, []string{r.limitKey(ip)}, ip.Count, ms(ip.Window), now.UnixMilli())
		}
		attemptScript.EvalSha(ctx, p, keys, id, maxAttempts, dest.Count, ms(dest.Window), now.UnixMilli())
	})
	if err != nil {
		return nil, err
	}
	if ip.Count > 0 {
		wait, err := cmds[0].(*redis.Cmd).Int64()
		if err != nil {
			return nil, fmt.Errorf("redis limit: %w", err)
		}
		if wait > 0 {
			return &otp.AttemptResult{Status: otp.AttemptLimited, RetryAfter: time.Duration(wait) * time.Millisecond}, nil
		}
	}
	vals, err := cmds[len(cmds)-1].(*redis.Cmd).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis attempt: %w", err)
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
		return &otp.AttemptResult{Status: otp.AttemptLimited, RetryAfter: time.Duration(wait) * time.Millisecond}, nil
	case "missing":
		return &otp.AttemptResult{Status: otp.AttemptMissing}, nil
	case "locked":
		c := &otp.Challenge{ID: id, Channel: otp.Channel(str(1)), Dest: otp.Destination{Country: str(2), Kind: str(3), Value: str(4)}}
		return &otp.AttemptResult{Status: otp.AttemptLocked, Challenge: c}, nil
	}
	att, _ := vals[1].(int64)
	mac, err := hex.DecodeString(str(3))
	if err != nil {
		return nil, fmt.Errorf("redis attempt: bad mac: %w", err)
	}
	exp, _ := strconv.ParseInt(str(11), 10, 64)
	res := &otp.AttemptResult{Status: otp.AttemptOK, MagentoToken: str(13), Challenge: &otp.Challenge{
		ID: id, Attempts: int(att), KeyID: str(2), MAC: mac,
		Dest:    otp.Destination{Kind: str(4), Value: str(5), Country: str(6), Prefix: str(7)},
		Channel: otp.Channel(str(8)), ClientID: str(9), Locale: str(10), ExpiresAt: time.UnixMilli(exp),
	}}
	if raw := str(12); raw != "" {
		var ci cachedIdentity
		if json.Unmarshal([]byte(raw), &ci) == nil {
			res.Identity = &otp.Identity{ID: ci.ID, Kind: ci.Kind, Value: ci.Value, MagentoCustomerID: ci.MagentoCustomerID,
				MagentoEmail: ci.MagentoEmail, CreatedAt: time.UnixMilli(ci.CreatedAt)}
		}
	}
	return res, nil
}

type cachedIdentity struct {
	ID                int64  `json:"id"`
	Kind              string `json:"kind"`
	Value             string `json:"value"`
	MagentoCustomerID int64  `json:"mcid"`
	MagentoEmail      string `json:"email"`
	CreatedAt         int64  `json:"created"`
}

// IdentityTTL is how long a destination's identity stays cached in Redis.
// Identities are never changed once created, so the cache cannot go stale
// unless an operator relinks one by hand (then delete its key or wait).
const IdentityTTL = time.Hour

// Forget implements otp.Store.
func (r *Redis) Forget(ctx context.Context, tag string) error {
	t := "d:" + tag
	if err := r.rdb.Del(ctx, r.keys.Tagged(t, "idn"), r.keys.Tagged(t, "mtok")).Err(); err != nil {
		return fmt.Errorf("redis forget: %w", err)
	}
	return nil
}

// Remember implements otp.Store.
func (r *Redis) Remember(ctx context.Context, challengeID string, id *otp.Identity, magentoToken string, tokenTTL time.Duration) error {
	b, err := json.Marshal(cachedIdentity{ID: id.ID, Kind: id.Kind, Value: id.Value, MagentoCustomerID: id.MagentoCustomerID,
		MagentoEmail: id.MagentoEmail, CreatedAt: id.CreatedAt.UnixMilli()})
	if err != nil {
		return err
	}
	_, err = r.pipelined(ctx, func(p redis.Pipeliner) {
		p.Set(ctx, r.destKey(challengeID, "idn"), b, IdentityTTL)
		if magentoToken != "" && tokenTTL > time.Second {
			p.Set(ctx, r.destKey(challengeID, "mtok"), magentoToken, tokenTTL)
		}
	})
	return err
}

// Consume implements otp.Store: the consume script and the breaker's
// verification count share one round trip. The count is made even when a
// concurrent verify won, which only over-counts verifications of the right
// code.
func (r *Redis) Consume(ctx context.Context, c *otp.Challenge, scopes []string, b otp.Breaker, now time.Time) (bool, error) {
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(c.ID)}, c.ID)
		r.count(ctx, p, scopes, b, now, true)
	})
	if err != nil {
		return false, err
	}
	n, err := cmds[0].(*redis.Cmd).Int64()
	if err != nil {
		return false, fmt.Errorf("redis consume: %w", err)
	}
	return n == 1, nil
}
