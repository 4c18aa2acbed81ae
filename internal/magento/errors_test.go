package magento_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

func TestFillPlaceholders(t *testing.T) {
	tests := []struct {
		msg, params, want string
	}{
		{"No such entity with %fieldName = %fieldValue", `{"fieldName":"cartId","fieldValue":"7"}`, "No such entity with cartId = 7"},
		{"The %1 Cart doesn't contain the %2 item.", `["5","9"]`, "The 5 Cart doesn't contain the 9 item."},
		{"%1 and %10", `["a","b","c","d","e","f","g","h","i","j"]`, "a and j"},
		{`Invalid value of "%value" provided for the %fieldName field.`, `{"fieldName":"qty","value":-1}`, `Invalid value of "-1" provided for the qty field.`},
		{"plain", ``, "plain"},
	}
	for _, tt := range tests {
		if got := magento.FillPlaceholders(tt.msg, json.RawMessage(tt.params)); got != tt.want {
			t.Errorf("FillPlaceholders(%q, %s) = %q; want %q", tt.msg, tt.params, got, tt.want)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	c := e.client
	cart, err := e.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref := magento.GuestCart(cart.MaskedID)
	tests := []struct {
		name     string
		call     func() error
		wantCode string
		wantMsg  string
		status   int
	}{
		{"unknown sku", func() error { _, err := c.AddItem(ctx, ref, "NOPE", 1); return err }, errs.NotFound, "The product that was requested doesn't exist. Verify the product and try again.", 404},
		{"qty above stock", func() error { _, err := c.AddItem(ctx, ref, "24-WG01", 4); return err }, errs.Invalid, "The requested qty is not available", 400},
		{"negative qty", func() error { _, err := c.AddItem(ctx, ref, "24-MB01", -1); return err }, errs.Invalid, `Invalid value of "-1" provided for the qty field.`, 400},
		{"unknown cart", func() error { _, err := c.Cart(ctx, magento.GuestCart("nope")); return err }, errs.NotFound, "No such entity with cartId = nope", 404},
		{"bad coupon", func() error { return c.ApplyCoupon(ctx, ref, "FREE") }, errs.NotFound, "The coupon code isn't valid. Verify the code and try again.", 404},
		{"customer token missing", func() error { _, err := c.Cart(ctx, magento.CustomerCart("bad", 1)); return err }, errs.Unauthorized, "The consumer isn't authorized to access self.", 401},
		{"order missing", func() error { _, err := c.Order(ctx, 999); return err }, errs.NotFound, "The entity that was requested doesn't exist. Verify the entity and try again.", 404},
		{"purchase order needs po_number", func() error {
			_, err := c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "a@example.com", PaymentMethod: magento.Payment{Method: "purchaseorder"}})
			return err
		}, errs.Invalid, "Purchase order number is a required field.", 400},
		{"shipping missing", func() error {
			_, err := c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "a@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
			return err
		}, errs.Invalid, "The shipping address is missing. Set the address and try again.", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			e := errs.As(err)
			if e.Code != tt.wantCode || e.Message != tt.wantMsg {
				t.Fatalf("error = %v; want %s %q", err, tt.wantCode, tt.wantMsg)
			}
			var ae *magento.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Errorf("APIError = %+v; want status %d", ae, tt.status)
			}
		})
	}
}

// flaky answers its first n requests with status, then delegates.
func flaky(n int32, status int, next http.Handler) (http.Handler, *atomic.Int32) {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"message":"Internal Error. Details are available in Magento log file. Report ID: %1","parameters":["webapi-1"]}`))
			return
		}
		next.ServeHTTP(w, r)
	}), &seen
}

func TestRetries(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":1,"customer":{"email":"","firstname":"","lastname":""},"store_id":1,"items":[]}`))
	})
	tests := []struct {
		name      string
		failures  int32
		status    int
		call      func(*magento.Client) error
		wantCode  string
		wantTries int32
	}{
		{"read recovers after transient 503s", 2, 503, func(c *magento.Client) error {
			_, err := c.Cart(context.Background(), magento.GuestCart("x"))
			return err
		}, "", 3},
		{"read gives up after retries", 10, 500, func(c *magento.Client) error {
			_, err := c.Cart(context.Background(), magento.GuestCart("x"))
			return err
		}, errs.Unavailable, 3},
		{"read 4xx is not retried", 10, 404, func(c *magento.Client) error {
			_, err := c.Cart(context.Background(), magento.GuestCart("x"))
			return err
		}, errs.NotFound, 1},
		{"write 5xx is outcome unknown, never retried", 10, 500, func(c *magento.Client) error {
			_, err := c.PlaceOrder(context.Background(), magento.GuestCart("x"), magento.PlaceOrderRequest{Email: "a@b.c", PaymentMethod: magento.Payment{Method: "checkmo"}})
			return err
		}, errs.OutcomeUnknown, 1},
		{"write 400 is a definite failure", 10, 400, func(c *magento.Client) error {
			_, err := c.AddItem(context.Background(), magento.GuestCart("x"), "S", 1)
			return err
		}, errs.Invalid, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, seen := flaky(tt.failures, tt.status, ok)
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := mustClient(t, srv.URL, func(c *magento.Config) { c.ReadRetries = 2 })
			err := tt.call(c)
			if errs.Code(err) != tt.wantCode {
				t.Errorf("error = %v; want code %q", err, tt.wantCode)
			}
			if seen.Load() != tt.wantTries {
				t.Errorf("attempts = %d; want %d", seen.Load(), tt.wantTries)
			}
		})
	}
}

func TestRetryHonoursContext(t *testing.T) {
	// The caller gives up while Magento answers the first attempt with a
	// 503: the client must neither sit out its minute of backoff nor try
	// again. (Cancelled from the handler, so the first attempt always
	// reaches the server, however slow the machine.)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	const backoff = time.Minute
	c := mustClient(t, srv.URL, func(c *magento.Config) {
		c.ReadRetries = 1
		c.RetryBaseDelay, c.RetryMaxDelay = backoff, backoff
	}, magento.WithJitter(func(max time.Duration) time.Duration { return max }))
	start := time.Now()
	_, err := c.Cart(ctx, magento.GuestCart("x"))
	if took := time.Since(start); err == nil || took >= backoff || seen.Load() != 1 {
		t.Errorf("Cart() = %v after %v and %d attempts; want a failure after 1 attempt, without waiting out the %v backoff", err, took, seen.Load(), backoff)
	}
}

func TestConcurrencyCap(t *testing.T) {
	var inflight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inflight.Add(-1)
		w.Write([]byte(`"masked"`))
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, func(c *magento.Config) { c.MaxConcurrent = 2 })
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.CreateGuestCart(context.Background()); err != nil {
				t.Errorf("CreateGuestCart = %v", err)
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 2 {
		t.Errorf("peak concurrent requests = %d; want 2", peak.Load())
	}
}

func TestWriteTimeoutIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	c := e.client
	// Only the placement runs with a short timeout: the setup calls keep the
	// normal one, so a slow machine cannot fail them. Both clients go through
	// http.DefaultTransport, so the placement reuses the setup's connection.
	short := e.cfg
	short.Timeout = 300 * time.Millisecond
	report := func(err error) { t.Errorf("schema: %v", err) }
	sc, err := magento.New(short, magento.WithHTTPClient(&http.Client{Transport: schema(t).Transport(http.DefaultTransport, report)}))
	if err != nil {
		t.Fatal(err)
	}
	masked, _ := c.CreateGuestCart(ctx)
	ref := magento.GuestCart(masked)
	if _, err := c.AddItem(ctx, ref, "MH02-M-Red", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "tablerate", ShippingMethodCode: "bestway"}); err != nil {
		t.Fatal(err)
	}
	cart, _ := c.Cart(ctx, ref)
	e.sb.SetFaults(magentosandbox.Fault{TimeoutAfterCommit: true, Path: "payment-information", Methods: []string{"POST"}})
	_, err = sc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "ada@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
	if !errs.Is(err, errs.OutcomeUnknown) {
		t.Fatalf("PlaceOrder under timeout_after_commit = %v; want outcome_unknown", err)
	}
	e.sb.ClearFaults()
	// Look before retrying: the order exists, and the cart is gone.
	orders, err := c.OrdersByQuoteID(ctx, cart.ID)
	if err != nil || len(orders) != 1 {
		t.Fatalf("OrdersByQuoteID = %v, %v; want the committed order", orders, err)
	}
	if _, err := c.Cart(ctx, ref); !errs.Is(err, errs.NotFound) {
		t.Errorf("Cart after placement = %v; want not_found", err)
	}
}

func TestDialFailureOnWriteIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := mustClient(t, url, nil)
	_, err := c.CreateGuestCart(context.Background())
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("CreateGuestCart against a closed port = %v; want unavailable (never sent)", err)
	}
}

func TestPlaceOrderAcceptsQuotedOrderID(t *testing.T) {
	// Magento's place-order routes answer the order id as "42" on some
	// versions although the schema says integer; the client takes both.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>`)) }))
	c := mustClient(t, srv.URL, nil)
	if _, err := c.PlaceOrder(context.Background(), magento.GuestCart("x"), magento.PlaceOrderRequest{Email: "a@b.c", PaymentMethod: magento.Payment{Method: "checkmo"}}); !errs.Is(err, errs.OutcomeUnknown) {
		t.Errorf("PlaceOrder with an unreadable 200 = %v; want outcome_unknown", err)
	}
	srv.Close()
	for _, body := range []string{`"42"`, `42`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		c := mustClient(t, srv.URL, nil)
		id, err := c.PlaceOrder(context.Background(), magento.GuestCart("x"), magento.PlaceOrderRequest{Email: "a@b.c", PaymentMethod: magento.Payment{Method: "checkmo"}})
		srv.Close()
		if err != nil || id != 42 {
			t.Errorf("PlaceOrder with answer %s = %d, %v; want 42", body, id, err)
		}
	}
}

func TestConcurrentPlacementOnOneCart(t *testing.T) {
	e := newEnv(t, magentosandbox.Options{}, nil)
	ctx := context.Background()
	c := e.client
	masked, _ := c.CreateGuestCart(ctx)
	ref := magento.GuestCart(masked)
	if _, err := c.AddItem(ctx, ref, "24-MB01", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetShippingInformation(ctx, ref, magento.ShippingInformation{ShippingAddress: californiaAddress(), ShippingCarrierCode: "flatrate", ShippingMethodCode: "flatrate"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var placed, gone atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{Email: "ada@example.com", PaymentMethod: magento.Payment{Method: "checkmo"}})
			switch {
			case err == nil:
				placed.Add(1)
			case errs.Is(err, errs.NotFound):
				gone.Add(1)
			default:
				t.Errorf("PlaceOrder = %v", err)
			}
		}()
	}
	wg.Wait()
	if placed.Load() != 1 || gone.Load() != 7 || len(e.sb.Orders()) != 1 {
		t.Errorf("placed %d, not found %d, orders %d; want 1, 7, 1", placed.Load(), gone.Load(), len(e.sb.Orders()))
	}
}

func TestRefusedLoginIsNotRetried(t *testing.T) {
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logins.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"The account sign-in was incorrect or your account is temporarily disabled. Correct the sign-in and try again."}`))
	}))
	defer srv.Close()
	c := mustClient(t, srv.URL, func(c *magento.Config) { c.ReadRetries = 5 })
	if _, err := c.StoreConfigs(context.Background()); !errs.Is(err, errs.Unauthorized) {
		t.Errorf("StoreConfigs = %v; want unauthorized", err)
	}
	if logins.Load() != 1 {
		t.Errorf("login attempts = %d; want 1 (a refused login must not be retried)", logins.Load())
	}
}
