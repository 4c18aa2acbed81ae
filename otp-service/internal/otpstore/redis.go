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

// Redis is otp.Store over Redis. Every key of one destination (its
// challenge, its send, verify and failure counts, its cached login data)
// carries the destination's tag as Cluster hash tag, so the scripts that
// touch them together run in one slot. It is safe for concurrent use.
type Redis struct {
	rdb  redis.UniversalClient
	keys cache.Keys
}

var _ otp.Store = (*Redis)(nil)

// NewRedis returns a store over rdb whose keys start with prefix.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, keys: cache.NewKeys(prefix)}
}

// limitScript counts one event against each limit KEYS[i] (count and window
// in ARGV[2i], ARGV[2i+1]) in windows that open at their first event, on the
// service's clock (ARGV[1], ms). It returns, per key, 0 within the limit or
// the milliseconds until its window closes. Redis's own expiry only collects
// the keys afterwards. The shared limits live in one Cluster slot ({l}):
// the global limit serialises every start on its key anyway, and one script
// call is far cheaper than one per limit.
var limitScript = redis.NewScript(limitLua + `
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  out[i] = hit(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), now)
end
return out`)

// limitLua's hit counts one event in key's window (n events, closing at r)
// and returns 0, or the milliseconds until the window closes when the event
// is over the limit. Only an event that opens a window writes r and the
// key's expiry (a minute after r); the others make one HINCRBY. spent
// counts nothing: it returns the milliseconds until key's window closes when
// it already holds limit events, else 0.
const limitLua = `
local function hit(key, limit, window, now)
  local r = tonumber(redis.call('HGET', key, 'r'))
  local n = 1
  if not r or now >= r then
    r = now + window
    redis.call('HSET', key, 'n', 1, 'r', r)
    redis.call('PEXPIRE', key, window + 60000)
  else
    n = redis.call('HINCRBY', key, 'n', 1)
  end
  if n > limit then return r - now end
  return 0
end
local function spent(key, limit, now)
  local f = redis.call('HMGET', key, 'n', 'r')
  local r = tonumber(f[2])
  if r and now < r and tonumber(f[1]) >= limit then return r - now end
  return 0
end
`

// breakerScript checks the breaker scopes of one country (KEYS holds
// paused, sent and verified keys per scope) and, when every scope allows
// sending, counts the send in the current bucket of each window. Per scope
// it returns the milliseconds left of a pause (paused until the time stored
// in its paused key, on the service's clock), 0 when sending is allowed, or
// -pause when it has just tripped because at least ARGV[3] sends in the
// window were verified at a ratio below ARGV[4].
var breakerScript = redis.NewScript(`
local b, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local minSent, ratio, pause, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local f = {}
for i = 0, n - 1 do f[#f + 1] = tostring(b - i) end
local out, open = {}, true
for k = 1, #KEYS, 3 do
  local res = 0
  local u = tonumber(redis.call('GET', KEYS[k]) or '0')
  if now < u then
    res = u - now
  else
    local s = redis.call('HMGET', KEYS[k + 1], unpack(f))
    local v = redis.call('HMGET', KEYS[k + 2], unpack(f))
    local sent, ver = 0, 0
    for i = 1, n do sent = sent + (tonumber(s[i]) or 0); ver = ver + (tonumber(v[i]) or 0) end
    if sent >= minSent and ver < sent * ratio then
      redis.call('SET', KEYS[k], now + pause, 'PX', pause + 60000)
      redis.call('DEL', KEYS[k + 1], KEYS[k + 2])
      res = -pause
    end
  end
  if res ~= 0 then open = false end
  out[#out + 1] = res
end
if open then
  for k = 1, #KEYS, 3 do
    if redis.call('HINCRBY', KEYS[k + 1], ARGV[1], 1) == 1 then
      redis.call('HDEL', KEYS[k + 1], tostring(b - n))
      redis.call('PEXPIRE', KEYS[k + 1], ARGV[7])
    end
  end
end
return out`)

// countScript adds one to the current bucket of each breaker window in KEYS;
// the first count in a bucket drops the bucket that just left the window and
// renews the key's expiry (as the breaker script does for sends).
var countScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], 1) == 1 then
    redis.call('HDEL', KEYS[i], tostring(tonumber(ARGV[1]) - tonumber(ARGV[2])))
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return 1`)

// saveScript counts the per-destination limits (KEYS[2..], ARGV[3] of them,
// each with count and window in ARGV) and, when all allow it, replaces the
// destination's challenge (KEYS[1]) with the fields that follow the
// wrong-code cap's count (its key after the limits'). It returns {0, 0}
// when saved, else {index of the first refusing limit, wait ms}, where
// index n+1 is the wrong-code cap: checked first, counting nothing.
var saveScript = redis.NewScript(limitLua + `
local now = tonumber(ARGV[2]); local n = tonumber(ARGV[3])
local fails = tonumber(ARGV[4 + 2 * n])
if fails > 0 then
  local w = spent(KEYS[2 + n], fails, now)
  if w > 0 then return {n + 1, w} end
end
local wait, which = 0, 0
for i = 1, n do
  local w = hit(KEYS[1 + i], tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i]), now)
  if w > 0 and which == 0 then which = i end
  if w > wait then wait = w end
end
if which > 0 then return {which, wait} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5 + 2 * n))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {0, 0}`)

// uncountScript takes back a send counted in each breaker window in KEYS.
var uncountScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) < 0 then redis.call('HDEL', KEYS[i], ARGV[1]) end
end
return 1`)

// attemptScript counts a verify against the destination's verify limit and
// the challenge's attempts before anything is compared, and returns the
// challenge's fields. Once its attempts are exhausted nothing more is
// compared: the first refused attempt answers locked, later ones missing.
// Only a verify of the destination's current challenge counts: ids that are
// not it (made up with the destination's tag, or replaced) answer missing
// and spend nothing, so nobody who learns a tag can spend its verify limit.
//
// The destination's failures limit (KEYS[5], count and window in ARGV[6],
// ARGV[7]; count 0 disables it) refuses the verify, counting nothing, once
// its window holds count failures. Otherwise a verify whose code will be
// compared (the challenge has not expired) counts as a failure: counted
// before the comparison like the attempts, so concurrent guesses cannot
// overshoot it, it counts only wrong codes because consumeScript deletes it
// after a right one.
var attemptScript = redis.NewScript(limitLua + `
local h = redis.call('HMGET', KEYS[1], 'id', 'kid', 'mac', 'kind', 'dest', 'country', 'prefix', 'channel', 'client', 'locale', 'exp', 'prov')
if not h[1] or h[1] ~= ARGV[1] then return {'missing'} end
local now, fails = tonumber(ARGV[5]), tonumber(ARGV[6])
if fails > 0 then
  local w = spent(KEYS[5], fails, now)
  if w > 0 then return {'limited', w} end
end
if tonumber(ARGV[3]) > 0 then
  local wait = hit(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), now)
  if wait > 0 then return {'limited', wait} end
end
local a = redis.call('HINCRBY', KEYS[1], 'att', 1)
if a > tonumber(ARGV[2]) then
  -- Spent: nothing more is compared. The challenge stays until a right code
  -- of the allowed attempts consumes it or it expires, so a verify still
  -- comparing one of those can win (deleting it here lost the login of 100
  -- concurrent right codes); the first refused attempt reports the lockout.
  if a == tonumber(ARGV[2]) + 1 then return {'locked', h[8], h[6], h[4], h[5], h[12]} end
  return {'missing'}
end
if fails > 0 and now < (tonumber(h[11]) or 0) then hit(KEYS[5], fails, tonumber(ARGV[7]), now) end
local idn = redis.call('GET', KEYS[3]) or ''
local mtok = redis.call('GET', KEYS[4]) or ''
return {'ok', a, h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], idn, mtok, h[12] or ''}`)

// consumeScript deletes the challenge (KEYS[1]) if it is still the one
// named, with any further KEYS (the destination's failures count, after a
// right code); only one caller can see 1.
var consumeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', unpack(KEYS))
  return 1
end
return 0`)

// unattemptScript takes back what attemptScript counted for a verify that
// the caller's IP limit then refused (the two run in one round trip, in
// different slots): the challenge's attempt (KEYS[1], if still the one
// named) and the destination's failure (KEYS[2]), so a right code sent from
// a busy address (a shared /64) neither spends the challenge nor locks the
// destination. The destination's verify limit stays counted.
var unattemptScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'att') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'att', -1)
end
if tonumber(redis.call('HGET', KEYS[2], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'n', -1)
end
return 1`)

var scripts = []*redis.Script{limitScript, breakerScript, countScript, uncountScript, saveScript, attemptScript, consumeScript, unattemptScript}

// Load loads the scripts, so pipelines can run them by hash.
func (r *Redis) Load(ctx context.Context) error {
	for _, s := range scripts {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return fmt.Errorf("load redis script: %w", err)
		}
	}
	return nil
}

// pipelined runs fn's commands in one pipeline. Scripts run by hash; a
// node that has lost its script cache (a restart, or a replica promoted on
// a Cluster, which never loaded them) answers NOSCRIPT, and then the scripts
// are loaded again and only the commands that got NOSCRIPT run again: on a
// Cluster the pipeline's commands on other nodes have run, and must not run
// twice. The returned commands hold the final results.
func (r *Redis) pipelined(ctx context.Context, fn func(redis.Pipeliner)) ([]redis.Cmder, error) {
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { fn(p); return nil })
	if err != nil && isNoScript(cmds) {
		if lerr := r.Load(ctx); lerr != nil {
			return nil, lerr
		}
		err = r.rerun(ctx, cmds)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return cmds, fmt.Errorf("redis: %w", err)
	}
	return cmds, nil
}

// rerun runs again the commands of cmds that failed with NOSCRIPT, in one
// pipeline, stores their new results in them, and returns the first error
// of cmds other than redis.Nil.
func (r *Redis) rerun(ctx context.Context, cmds []redis.Cmder) error {
	var failed []*redis.Cmd
	for _, c := range cmds {
		if rc, ok := c.(*redis.Cmd); ok && isNoScriptErr(rc.Err()) {
			failed = append(failed, rc)
		}
	}
	again := make([]*redis.Cmd, len(failed))
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range failed {
			again[i] = p.Do(ctx, c.Args()...)
		}
		return nil
	})
	for i, c := range failed {
		c.SetVal(again[i].Val())
		c.SetErr(again[i].Err())
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

func isNoScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if isNoScriptErr(c.Err()) {
			return true
		}
	}
	return false
}

func isNoScriptErr(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }

func (r *Redis) limitKey(l otp.Limit) string { return r.keys.Tagged("l", l.Name, l.Subject) }

// scopeKeys returns the breaker keys of scope. Every scope of one start
// shares the first scope's tag (the country), so one script handles them.
func (r *Redis) scopeKeys(tag, scope string) (paused, sent, verified string) {
	t := "b:" + tag
	return r.keys.Tagged(t, scope, "paused"), r.keys.Tagged(t, scope, "sent"), r.keys.Tagged(t, scope, "ver")
}

func (r *Redis) breakerKeys(scopes []string, which int) []string {
	keys := make([]string, 0, 3*len(scopes))
	for _, s := range scopes {
		paused, sent, ver := r.scopeKeys(scopes[0], s)
		switch which {
		case 0:
			keys = append(keys, paused, sent, ver)
		case 1:
			keys = append(keys, sent)
		default:
			keys = append(keys, ver)
		}
	}
	return keys
}

func bucket(b otp.Breaker, now time.Time) int64 {
	return now.UnixMilli() / ms(b.Window/time.Duration(b.Buckets))
}

func (r *Redis) destKey(challengeID, name string) string {
	return r.keys.Tagged("d:"+otp.ChallengeTag(challengeID), name)
}

func (r *Redis) challengeKey(id string) string { return r.destKey(id, "ch") }

// Start implements otp.Store in two steps, each one round trip. First one
// pipeline counts the shared limits and checks the breaker scopes (counting
// the send where allowed); only when both allow the start does the second
// run the destination's save script, which counts its own limits and
// replaces its challenge. A start the shared limits or the breaker refuse
// so leaves the destination untouched: a caller over their own IP, device
// or global limit, or sending to a paused country, can neither replace
// (cancel) someone's pending code nor spend their per-destination limits.
// One round trip cannot give that on a Cluster: the shared limits, the
// breaker and the destination live in different slots, so no script can
// make the save depend on the others, and a save undone afterwards would
// leave the pending code missing in between. A refusal that follows a
// counted send costs one more round trip, to take the send back.
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
	counted, err := r.startShared(ctx, g, shared, &res, refuse)
	if err != nil {
		return res, err
	}
	if res.Limited == nil && res.Paused == "" {
		saveKeys := []string{r.challengeKey(c.ID)}
		saveArgs := []any{ms(c.ExpiresAt.Sub(g.Now) + 30*time.Second), g.Now.UnixMilli(), len(dest)}
		for _, i := range dest {
			saveKeys = append(saveKeys, r.destKey(c.ID, "l:"+g.Limits[i].Name))
			saveArgs = append(saveArgs, g.Limits[i].Count, ms(g.Limits[i].Window))
		}
		// The wrong-code cap, checked before anything is counted.
		saveKeys = append(saveKeys, r.destKey(c.ID, "vf"))
		saveArgs = append(saveArgs, g.Failures.Count,
			"id", c.ID, "kid", c.KeyID, "mac", hex.EncodeToString(c.MAC), "kind", c.Dest.Kind, "dest", c.Dest.Value,
			"country", c.Dest.Country, "prefix", c.Dest.Prefix, "channel", string(c.Channel), "client", c.ClientID,
			"locale", c.Locale, "exp", c.ExpiresAt.UnixMilli(), "prov", c.Provider, "att", 0)
		var saveCmd *redis.Cmd
		if _, err := r.pipelined(ctx, func(p redis.Pipeliner) {
			saveCmd = saveScript.EvalSha(ctx, p, saveKeys, saveArgs...)
		}); err != nil {
			return res, err
		}
		saved, err := saveCmd.Int64Slice()
		if err != nil || len(saved) != 2 {
			return res, fmt.Errorf("redis save challenge: %v %w", saved, err)
		}
		switch {
		case saved[0] == 0:
			return res, nil
		case saved[0] == int64(len(dest))+1:
			res.Limited, res.RetryAfter = &g.Failures, time.Duration(saved[1])*time.Millisecond
		default:
			refuse(dest[saved[0]-1], saved[1])
		}
	}
	if counted {
		// Refused after the breaker counted the send: take it back.
		_, err = r.pipelined(ctx, func(p redis.Pipeliner) {
			uncountScript.EvalSha(ctx, p, r.breakerKeys(g.Scopes, 1), bucket(g.Breaker, g.Now))
		})
	}
	return res, err
}

// startShared runs Start's first step: it counts the shared limits of g
// (indexes shared) and checks g's breaker scopes in one pipeline, reports
// refusing limits to refuse and paused or tripped scopes in res, and says
// whether the breaker counted the send.
func (r *Redis) startShared(ctx context.Context, g otp.Gate, shared []int, res *otp.GateResult, refuse func(int, int64)) (counted bool, err error) {
	if len(shared) == 0 && len(g.Scopes) == 0 {
		return false, nil
	}
	limitKeys := make([]string, 0, len(shared))
	limitArgs := []any{g.Now.UnixMilli()}
	for _, i := range shared {
		limitKeys = append(limitKeys, r.limitKey(g.Limits[i]))
		limitArgs = append(limitArgs, g.Limits[i].Count, ms(g.Limits[i].Window))
	}
	var limitCmd, breakerCmd *redis.Cmd
	if _, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		if len(limitKeys) > 0 {
			limitCmd = limitScript.EvalSha(ctx, p, limitKeys, limitArgs...)
		}
		if len(g.Scopes) > 0 {
			breakerCmd = breakerScript.EvalSha(ctx, p, r.breakerKeys(g.Scopes, 0),
				bucket(g.Breaker, g.Now), g.Breaker.Buckets, g.Breaker.MinSent, strconv.FormatFloat(g.Breaker.MinRatio, 'f', -1, 64),
				ms(g.Breaker.Pause), g.Now.UnixMilli(), ms(2*g.Breaker.Window))
		}
	}); err != nil {
		return false, err
	}
	if limitCmd != nil {
		waits, err := limitCmd.Int64Slice()
		if err != nil || len(waits) != len(shared) {
			return false, fmt.Errorf("redis limits: %v %w", waits, err)
		}
		for k, i := range shared {
			refuse(i, waits[k])
		}
	}
	if breakerCmd == nil {
		return false, nil
	}
	vals, err := breakerCmd.Int64Slice()
	if err != nil || len(vals) != len(g.Scopes) {
		return false, fmt.Errorf("redis breaker: %v %w", vals, err)
	}
	counted = true
	for k, v := range vals {
		if v < 0 {
			res.Tripped = append(res.Tripped, g.Scopes[k])
			v = -v
		}
		if v > 0 {
			counted = false
			if res.Paused == "" {
				res.Paused, res.PausedFor = g.Scopes[k], time.Duration(v)*time.Millisecond
			}
		}
	}
	return counted, nil
}

// countVerified counts a verification in the breaker windows of scopes.
func (r *Redis) countVerified(ctx context.Context, p redis.Pipeliner, scopes []string, b otp.Breaker, now time.Time) {
	if len(scopes) > 0 {
		countScript.EvalSha(ctx, p, r.breakerKeys(scopes, 2), bucket(b, now), b.Buckets, ms(2*b.Window))
	}
}

// DeleteChallenge implements otp.Store.
func (r *Redis) DeleteChallenge(ctx context.Context, id string) error {
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(id)}, id)
	})
	return err
}

// SetProvider implements otp.Store.
func (r *Redis) SetProvider(ctx context.Context, id, provider string) error {
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		p.HSet(ctx, r.challengeKey(id), "prov", provider)
	})
	return err
}

// AbortStart implements otp.Store.
func (r *Redis) AbortStart(ctx context.Context, id string) error {
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(id)}, id)
		p.Del(ctx, r.destKey(id, "l:resend"))
	})
	return err
}

// Attempt implements otp.Store: the IP limit and the attempt script run in
// one pipeline, one round trip; the script also reads the destination's
// cached identity and Magento token. The IP limit counts every verify, of
// challenges that exist or not (it bounds guessing ids); the destination's
// verify limit and the challenge's attempts count only verifies of the
// destination's current challenge, and so does the failures limit (whose
// key, like the others, carries the destination's tag).
func (r *Redis) Attempt(ctx context.Context, id string, ip, dest, failures otp.Limit, maxAttempts int, now time.Time) (*otp.AttemptResult, error) {
	keys := []string{r.challengeKey(id), r.destKey(id, "vl"), r.destKey(id, "idn"), r.destKey(id, "mtok"), r.destKey(id, "vf")}
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		if ip.Count > 0 {
			limitScript.EvalSha(ctx, p, []string{r.limitKey(ip)}, now.UnixMilli(), ip.Count, ms(ip.Window))
		}
		attemptScript.EvalSha(ctx, p, keys, id, maxAttempts, dest.Count, ms(dest.Window), now.UnixMilli(), failures.Count, ms(failures.Window))
	})
	if err != nil {
		return nil, err
	}
	if ip.Count > 0 {
		waits, err := cmds[0].(*redis.Cmd).Int64Slice()
		if err != nil || len(waits) != 1 {
			return nil, fmt.Errorf("redis limit: %w", err)
		}
		if waits[0] > 0 {
			if vals, err := cmds[len(cmds)-1].(*redis.Cmd).Slice(); err == nil && len(vals) > 0 && vals[0] == "ok" {
				if err := unattemptScript.Run(ctx, r.rdb, []string{keys[0], keys[4]}, id).Err(); err != nil {
					return nil, fmt.Errorf("redis unattempt: %w", err)
				}
			}
			return &otp.AttemptResult{Status: otp.AttemptLimited, RetryAfter: time.Duration(waits[0]) * time.Millisecond}, nil
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
		c := &otp.Challenge{ID: id, Channel: otp.Channel(str(1)), Dest: otp.Destination{Country: str(2), Kind: str(3), Value: str(4)}, Provider: str(5)}
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
		Channel: otp.Channel(str(8)), ClientID: str(9), Locale: str(10), ExpiresAt: time.UnixMilli(exp), Provider: str(14),
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

// Remember implements otp.Store. The identity and the Magento token are
// written together in one transaction (both keys share the destination's
// slot), and a login without a token deletes the cached one: the variants
// of a mailbox share a destination tag, so a token left from another
// address's login would otherwise be handed out with this identity.
func (r *Redis) Remember(ctx context.Context, challengeID string, id *otp.Identity, magentoToken string, tokenTTL time.Duration) error {
	b, err := json.Marshal(cachedIdentity{ID: id.ID, Kind: id.Kind, Value: id.Value, MagentoCustomerID: id.MagentoCustomerID,
		MagentoEmail: id.MagentoEmail, CreatedAt: id.CreatedAt.UnixMilli()})
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.destKey(challengeID, "idn"), b, IdentityTTL)
		if magentoToken != "" && tokenTTL > time.Second {
			p.Set(ctx, r.destKey(challengeID, "mtok"), magentoToken, tokenTTL)
		} else {
			p.Del(ctx, r.destKey(challengeID, "mtok"))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("login cache: %w", err)
	}
	return nil
}

// Consume implements otp.Store: the consume script (which also resets the
// destination's failures count) and the breaker's verification count share
// one round trip. The count is made even when a concurrent verify won,
// which only over-counts verifications of the right code.
func (r *Redis) Consume(ctx context.Context, c *otp.Challenge, scopes []string, b otp.Breaker, now time.Time) (bool, error) {
	cmds, err := r.pipelined(ctx, func(p redis.Pipeliner) {
		consumeScript.EvalSha(ctx, p, []string{r.challengeKey(c.ID), r.destKey(c.ID, "vf")}, c.ID)
		r.countVerified(ctx, p, scopes, b, now)
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
