package otp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/otpstore"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// outbox is a Sender that keeps the last code per destination.
type outbox struct {
	mu    sync.Mutex
	codes map[string]string
}

func (o *outbox) Send(_ context.Context, m otp.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes[m.To] = m.Code
	return "memory", nil
}

func (o *outbox) Primary(otp.Message) string { return "memory" }

func (o *outbox) code(to string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.codes[to]
}

// memIdentities is an in-memory otp.Identities that counts its calls.
type memIdentities struct {
	mu    sync.Mutex
	calls atomic.Int64
	ids   map[string]*otp.Identity
}

func (m *memIdentities) FindIdentity(_ context.Context, kind, value string) (*otp.Identity, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.ids[kind+value]; ok {
		return id, nil
	}
	return nil, errs.E(errs.NotFound, "none")
}

func (m *memIdentities) CreateIdentity(_ context.Context, id *otp.Identity) error {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	id.ID = int64(len(m.ids) + 1)
	m.ids[id.Kind+id.Value] = id
	return nil
}

func (m *memIdentities) IssueRefresh(context.Context, otp.RefreshToken) error {
	m.calls.Add(1)
	return nil
}

func (m *memIdentities) RotateRefresh(context.Context, []byte, *otp.RefreshToken, time.Time) (*otp.Identity, error) {
	m.calls.Add(1)
	return nil, errs.E(otp.CodeInvalidRefresh, "no")
}

func (m *memIdentities) RevokeFamily(context.Context, []byte, string, time.Time) (int64, error) {
	m.calls.Add(1)
	return 0, nil
}

func (m *memIdentities) Relink(context.Context, int64, int64, string) (*otp.Identity, error) {
	m.calls.Add(1)
	return nil, errs.E(errs.NotFound, "none")
}

// memCustomers is an in-memory otp.Customers that counts its calls.
type memCustomers struct {
	calls atomic.Int64
	next  atomic.Int64
}

func (c *memCustomers) FindByEmail(context.Context, string) (int64, error) {
	c.calls.Add(1)
	return 0, errs.E(errs.NotFound, "none")
}

func (c *memCustomers) Create(context.Context, string, string, string) (int64, error) {
	c.calls.Add(1)
	return c.next.Add(1), nil
}

func (c *memCustomers) CustomerToken(context.Context, int64, string) (string, time.Time, error) {
	c.calls.Add(1)
	return "magento-token", time.Now().Add(time.Hour), nil
}

func (c *memCustomers) FirstToken(ctx context.Context, id int64, email string) (string, time.Time, error) {
	return c.CustomerToken(ctx, id, email)
}

type fixture struct {
	rdb       redis.UniversalClient
	prefix    string
	svc       *otp.Service
	store     otp.Store
	cfg       otp.Config
	deps      otp.Deps
	out       *outbox
	ids       *memIdentities
	customers *memCustomers
	now       *atomic.Int64
}

func newFixture(t *testing.T, mod func(*otp.Config)) *fixture {
	t.Helper()
	rdb, prefix := cachetest.New(t)
	store := otpstore.NewRedis(rdb, prefix)
	if err := store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := otp.DefaultConfig()
	cfg.HashKeys = map[string]config.Secret{"k1": config.Secret(strings.Repeat("k", 32))}
	cfg.ActiveHashKey = "k1"
	cfg.FingerprintKey = config.Secret(strings.Repeat("f", 32))
	if mod != nil {
		mod(&cfg)
	}
	tc := tokens.DefaultConfig()
	tc.GenerateDevKey = true
	iss, err := tokens.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{out: &outbox{codes: map[string]string{}}, ids: &memIdentities{ids: map[string]*otp.Identity{}}, customers: &memCustomers{}, now: &atomic.Int64{}}
	f.now.Store(time.Now().UnixNano())
	f.store, f.cfg, f.rdb, f.prefix = store, cfg, rdb, prefix
	f.deps = otp.Deps{Store: store, Sender: f.out, Identities: f.ids, Customers: f.customers, Tokens: iss,
		Log: zaptest.NewLogger(t), Now: func() time.Time { return time.Unix(0, f.now.Load()) }}
	f.svc, err = otp.New(cfg, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// with returns a Service like f's over another store.
func (f *fixture) with(t *testing.T, s otp.Store) *otp.Service {
	t.Helper()
	d := f.deps
	d.Store = s
	svc, err := otp.New(f.cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var meta = otp.Meta{IP: "192.0.2.1", RequestID: "test"}

// Rule 6: start reads no identity and calls no Magento, so its answer (and
// its time) cannot depend on whether an account exists.
func TestStartTouchesNoIdentityOrMagento(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, req := range []otp.StartRequest{{Phone: "+919876543210"}, {Email: "jane@example.com"}} {
		if _, err := f.svc.Start(ctx, req, meta); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := f.ids.calls.Load(), f.customers.calls.Load(); n != 0 || m != 0 {
		t.Errorf("start called identities %d times and Magento %d times; want 0", n, m)
	}
}

// Brute force: 10,000 wrong guesses spread over 2,000 challenges. Each
// challenge compares at most MaxAttempts (5) codes, so the chance of any
// success is bounded by 5/10^6 per challenge; the 6th guess, even the right
// code, is refused.
func TestBruteForceNeverBeyondArithmeticBound(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) {
		c.Limits = otp.Limits{} // only the per-challenge bound is under test
		c.ResendAfter = 0
		c.Breaker.MinSent = 1 << 30
	})
	ctx := context.Background()
	const challenges, perChallenge = 2000, 5
	var compared, succeeded, refusedRight atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range challenges {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			phone := fmt.Sprintf("+9198%08d", 10000000+i)
			res, err := f.svc.Start(ctx, otp.StartRequest{Phone: phone}, meta)
			if err != nil {
				t.Error(err)
				return
			}
			right := f.out.code(phone)
			for g := range perChallenge + 1 {
				guess := fmt.Sprintf("%06d", (i*7+g*131071)%1000000)
				if guess == right {
					guess = fmt.Sprintf("%06d", (i*7+g*131071+1)%1000000)
				}
				if g == perChallenge {
					guess = right // the right code after the attempts are spent
				}
				_, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: guess}, meta)
				switch errs.Code(err) {
				case "":
					succeeded.Add(1)
				case otp.CodeInvalidCode:
					compared.Add(1)
				case otp.CodeChallengeGone:
					if g == perChallenge {
						refusedRight.Add(1)
					}
				default:
					t.Errorf("Verify: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if succeeded.Load() != 0 {
		t.Errorf("%d guesses succeeded; want 0 (wrong codes only, then the right one after 5 attempts)", succeeded.Load())
	}
	if compared.Load() != challenges*perChallenge {
		t.Errorf("%d guesses compared; want exactly %d (5 per challenge)", compared.Load(), challenges*perChallenge)
	}
	if refusedRight.Load() != challenges {
		t.Errorf("the right code after 5 wrong ones was refused %d times; want %d", refusedRight.Load(), challenges)
	}
}

// Rule 4: the attempt is counted atomically before comparing. 50 concurrent
// wrong guesses on one challenge get exactly 5 comparisons (401); the rest
// find it dead (410). Counting after the comparison would let all 50 compare.
func TestAttemptCountedBeforeCompareUnderConcurrency(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) { c.Limits = otp.Limits{} })
	ctx := context.Background()
	res, err := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543210"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	right := f.out.code("+919876543210")
	wrong := "000000"
	if right == wrong {
		wrong = "000001"
	}
	var invalid, gone atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: wrong}, meta)
			switch errs.Code(err) {
			case otp.CodeInvalidCode:
				invalid.Add(1)
			case otp.CodeChallengeGone:
				gone.Add(1)
			default:
				t.Errorf("Verify = %v", err)
			}
		}()
	}
	wg.Wait()
	if invalid.Load() != 5 || gone.Load() != 45 {
		t.Errorf("50 concurrent wrong guesses: %d compared, %d refused; want 5 and 45", invalid.Load(), gone.Load())
	}
	if _, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: right}, meta); errs.Code(err) != otp.CodeChallengeGone {
		t.Errorf("right code after lock-out = %v; want %s", err, otp.CodeChallengeGone)
	}
}

// Rule 2: one challenge, one client. A code is bound to its challenge id (it
// is inside the HMAC) and to the client that started it.
func TestCodeBoundToChallengeAndClient(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) { c.Limits = otp.Limits{} })
	ctx := context.Background()
	a, _ := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543210", ClientID: "app-a"}, meta)
	b, _ := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543211"}, meta)
	codeA := f.out.code("+919876543210")
	if _, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: b.ChallengeID, Code: codeA}, meta); errs.Code(err) != otp.CodeInvalidCode && f.out.code("+919876543211") != codeA {
		t.Errorf("A's code on B's challenge = %v; want %s", err, otp.CodeInvalidCode)
	}
	if _, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: a.ChallengeID, Code: codeA, ClientID: "app-b"}, meta); errs.Code(err) != otp.CodeInvalidCode {
		t.Errorf("A's code from another client = %v; want %s", err, otp.CodeInvalidCode)
	}
	if _, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: a.ChallengeID, Code: codeA, ClientID: "app-a"}, meta); err != nil {
		t.Errorf("A's code from A = %v; want success", err)
	}
}

// barrierStore holds every Attempt until n of them have been counted, so n
// verifies of the right code all pass the comparison before any consumes.
type barrierStore struct {
	otp.Store
	n       int
	mu      sync.Mutex
	arrived int
	release chan struct{}
}

func (b *barrierStore) Attempt(ctx context.Context, id string, ip, dest, failures otp.Limit, max int, now time.Time) (*otp.AttemptResult, error) {
	res, err := b.Store.Attempt(ctx, id, ip, dest, failures, max, now)
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.release)
	}
	b.mu.Unlock()
	<-b.release
	return res, err
}

// I4: verifies of the right code that all passed the attempt count at once
// log in once: the consume step is atomic. With more of them than the
// challenge allows attempts, the refused ones must not take the challenge
// away from those still comparing (deleting it at the lockout lost the
// login of 100 concurrent right codes).
func TestRightCodeRaceConsumesOnce(t *testing.T) {
	for _, n := range []int{5, 7} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			f := newFixture(t, func(c *otp.Config) { c.Limits = otp.Limits{} })
			ctx := context.Background()
			res, err := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543210"}, meta)
			if err != nil {
				t.Fatal(err)
			}
			code := f.out.code("+919876543210")
			bs := &barrierStore{Store: f.store, n: n, release: make(chan struct{})}
			svc := f.with(t, bs)
			var wins, gone atomic.Int64
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: code}, meta)
					switch errs.Code(err) {
					case "":
						wins.Add(1)
					case otp.CodeChallengeGone:
						gone.Add(1)
					default:
						t.Errorf("Verify = %v", err)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 || gone.Load() != int64(n-1) {
				t.Errorf("%d right codes at once: %d logged in, %d refused; want 1 and %d", n, wins.Load(), gone.Load(), n-1)
			}
		})
	}
}

// Rule 3: Redis holds the code only as HMAC-SHA256(key, challenge id, code)
// beside the key's id; no stored value contains the code.
func TestRedisHoldsOnlyKeyedHash(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	res, err := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543210"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	code := f.out.code("+919876543210")
	keys, err := f.rdb.Keys(ctx, f.prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	var challenge map[string]string
	for _, k := range keys {
		var vals []string
		switch f.rdb.Type(ctx, k).Val() {
		case "hash":
			h := f.rdb.HGetAll(ctx, k).Val()
			if h["id"] == res.ChallengeID {
				challenge = h
			}
			for field, v := range h {
				vals = append(vals, field, v)
			}
		case "string":
			vals = append(vals, f.rdb.Get(ctx, k).Val())
		}
		for _, v := range vals {
			if strings.Contains(v, code) {
				t.Errorf("key %s holds the code in %q", k, v)
			}
		}
	}
	if challenge == nil {
		t.Fatal("no challenge hash found")
	}
	m := hmac.New(sha256.New, []byte(strings.Repeat("k", 32)))
	m.Write([]byte(res.ChallengeID + "\x00" + code))
	if challenge["kid"] != "k1" || challenge["mac"] != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("challenge kid %q mac %q; want k1 and HMAC-SHA256(key, id || 0 || code)", challenge["kid"], challenge["mac"])
	}
}

// holdStore holds the first Attempt's caller after the store counted it,
// until release is closed: a verify still comparing its code.
type holdStore struct {
	otp.Store
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h *holdStore) Attempt(ctx context.Context, id string, ip, dest, failures otp.Limit, max int, now time.Time) (*otp.AttemptResult, error) {
	res, err := h.Store.Attempt(ctx, id, ip, dest, failures, max, now)
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.held)
		<-h.release
	}
	return res, err
}

// A wrong code on the last allowed attempt must not take the challenge from
// a right code counted just before it and still being compared.
func TestLastWrongCodeLeavesARightOneComparing(t *testing.T) {
	f := newFixture(t, func(c *otp.Config) { c.Limits = otp.Limits{} })
	ctx := context.Background()
	res, err := f.svc.Start(ctx, otp.StartRequest{Phone: "+919876543210"}, meta)
	if err != nil {
		t.Fatal(err)
	}
	right := f.out.code("+919876543210")
	wrong := "000000"
	if right == wrong {
		wrong = "000001"
	}
	for range 3 {
		if _, err := f.svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: wrong}, meta); errs.Code(err) != otp.CodeInvalidCode {
			t.Fatalf("wrong code = %v", err)
		}
	}
	hs := &holdStore{Store: f.store, held: make(chan struct{}), release: make(chan struct{})}
	svc := f.with(t, hs)
	done := make(chan error, 1)
	go func() { // attempt 4: the right code, held while "comparing"
		_, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: right}, meta)
		done <- err
	}()
	<-hs.held
	// attempt 5, the last allowed: a wrong code
	if _, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: wrong}, meta); errs.Code(err) != otp.CodeInvalidCode {
		t.Fatalf("last wrong code = %v", err)
	}
	close(hs.release)
	if err := <-done; err != nil {
		t.Fatalf("the right code counted before the last wrong one = %v; want a login", err)
	}
}
