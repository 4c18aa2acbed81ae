package magentolink

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

// counting counts the token mints it passes to the real client.
type counting struct {
	*magento.Client
	mints atomic.Int64
}

func (c *counting) GenerateCustomerTokenAsAdmin(ctx context.Context, email string) (string, error) {
	c.mints.Add(1)
	return c.Client.GenerateCustomerTokenAsAdmin(ctx, email)
}

func newLink(t *testing.T) (*Customers, *counting) {
	t.Helper()
	srv := httptest.NewServer(magentosandbox.New(magentosandbox.Options{}).Handler())
	t.Cleanup(srv.Close)
	rdb, prefix := cachetest.New(t)
	return newInstance(t, srv.URL, rdb, prefix)
}

// newInstance returns one otp-service instance's adapter over the Magento
// at baseURL and the Redis rdb, with its own Magento client.
func newInstance(t *testing.T, baseURL string, rdb redis.UniversalClient, prefix string) (*Customers, *counting) {
	t.Helper()
	cfg := magento.DefaultConfig()
	cfg.BaseURL = baseURL
	cfg.AuthMode = magento.AuthAdminPassword
	cfg.AdminUsername, cfg.AdminPassword = "admin", "admin123"
	mc, err := magento.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc := &counting{Client: mc}
	return New(cc, rdb, prefix, DefaultConfig(), 1), cc
}

func TestCreateFindAndCachedToken(t *testing.T) {
	link, cc := newLink(t)
	ctx := context.Background()
	id, err := link.Create(ctx, "919876543210.abcdefgh@phone.shop.example", "Shopper", "Customer")
	if err != nil || id < 1 {
		t.Fatalf("Create = %d, %v", id, err)
	}
	if got, err := link.FindByEmail(ctx, "919876543210.abcdefgh@phone.shop.example"); err != nil || got != id {
		t.Errorf("FindByEmail = %d, %v; want %d", got, err, id)
	}
	if _, err := link.FindByEmail(ctx, "nobody@example.com"); !errs.Is(err, errs.NotFound) {
		t.Errorf("FindByEmail(unknown) = %v; want not_found", err)
	}
	// The created customer allows remote assistance, so a token can be
	// minted; concurrent callers share one mint and later ones the cache.
	var wg sync.WaitGroup
	toks := make([]string, 10)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], _, _ = link.CustomerToken(ctx, id, "919876543210.abcdefgh@phone.shop.example")
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		if tok == "" || tok != toks[0] {
			t.Fatalf("tokens = %v; want one shared token", toks)
		}
	}
	if n := cc.mints.Load(); n != 1 {
		t.Errorf("%d mints for 10 concurrent callers; want 1", n)
	}
	ttl := link.rdb.PTTL(ctx, link.tokenKey(id)).Val()
	if ttl <= 50*time.Minute || ttl > 55*time.Minute {
		t.Errorf("cached token TTL = %v; want 55m (1h lifetime - 5m)", ttl)
	}
}

func TestFirstTokenMintsWithoutReadingAndCaches(t *testing.T) {
	link, cc := newLink(t)
	ctx := context.Background()
	const email = "919811112222.abcdefgh@phone.shop.example"
	id, err := link.Create(ctx, email, "Shopper", "Customer")
	if err != nil {
		t.Fatal(err)
	}
	first, until, err := link.FirstToken(ctx, id, email)
	if err != nil || first == "" {
		t.Fatalf("FirstToken = %q, %v", first, err)
	}
	if left := time.Until(until); left <= 50*time.Minute || left > 55*time.Minute {
		t.Errorf("FirstToken usable for %v; want 55m", left)
	}
	again, _, err := link.CustomerToken(ctx, id, email)
	if err != nil || again != first {
		t.Errorf("CustomerToken after FirstToken = %q, %v; want the cached %q", again, err, first)
	}
	if n := cc.mints.Load(); n != 1 {
		t.Errorf("%d mints; want 1", n)
	}
	if _, _, err := link.FirstToken(ctx, 999999, "nobody@example.com"); err == nil {
		t.Error("FirstToken for an unknown customer succeeded")
	}
}

// The email recorded at link time goes stale when the customer changes it in
// Magento, and another customer may take the old address: the token must be
// minted for the linked customer id, never for whoever holds the old email.
func TestCustomerTokenFollowsTheCustomerIDNotAStaleEmail(t *testing.T) {
	link, cc := newLink(t)
	ctx := context.Background()
	linked, err := link.Create(ctx, "jane.new@example.com", "Jane", "Doe") // Jane changed her email to this
	if err != nil {
		t.Fatal(err)
	}
	other, err := link.Create(ctx, "jane.old@example.com", "Mallory", "Doe") // and Mallory took the old one
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := link.CustomerToken(ctx, linked, "jane.old@example.com") // the link still records the old email
	if err != nil {
		t.Fatalf("CustomerToken = %v", err)
	}
	me, err := cc.Me(ctx, tok)
	if err != nil {
		t.Fatalf("Me = %v", err)
	}
	if me.ID != linked {
		t.Fatalf("the token is customer %d's (%s); want the linked customer %d, not %d", me.ID, me.Email, linked, other)
	}
}

// An account registered on the storefront with a password waits for its
// email confirmation (customer/create_account/confirm); one created here
// without a password does not.
func TestPendingConfirmation(t *testing.T) {
	srv := httptest.NewServer(magentosandbox.New(magentosandbox.Options{ConfirmAccounts: true}).Handler())
	t.Cleanup(srv.Close)
	rdb, prefix := cachetest.New(t)
	link, cc := newInstance(t, srv.URL, rdb, prefix)
	ctx := context.Background()
	ours, err := link.Create(ctx, "shopper@example.com", "Shop", "Per")
	if err != nil {
		t.Fatal(err)
	}
	registered, err := cc.CreateCustomer(ctx, magento.Customer{Email: "registered@example.com", Firstname: "Reg", Lastname: "Istered"}, "Passw0rd!23")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   int64
		want bool
	}{{ours, false}, {registered.ID, true}} {
		if got, err := link.PendingConfirmation(ctx, tt.id); err != nil || got != tt.want {
			t.Errorf("PendingConfirmation(%d) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
	if _, err := link.PendingConfirmation(ctx, 9999); errs.Code(err) != errs.NotFound {
		t.Errorf("PendingConfirmation(unknown) = %v; want not found", err)
	}
}
