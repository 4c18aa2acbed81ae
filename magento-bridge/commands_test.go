package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

// TestCaptureCommands runs captures and retry-capture as an operator does,
// with the configuration taken from the environment.
func TestCaptureCommands(t *testing.T) {
	ctx := context.Background()
	mcfg := databasetest.NewConfig(t)
	db, err := database.Open(ctx, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := database.Migrate(ctx, db, "checkout_service_migrations", os.DirFS(filepath.Join("..", "checkout-service", "migrations")), zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	rcfg := cachetest.NewConfig(t)
	env := map[string]string{
		"BRIDGE_MYSQL_DSN": mcfg.DSN.Reveal(), "BRIDGE_REDIS_ADDRS": strings.Join(rcfg.Addrs, ","),
		"BRIDGE_REDIS_KEY_PREFIX": rcfg.KeyPrefix, "BRIDGE_LOG_LEVEL": "error", "BRIDGE_ENV": "development",
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := program().Run(ctx, args, &out, func(k string) string { return env[k] })
		return out.String(), err
	}
	if out, err := run("migrate"); err != nil {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	store := bridgestore.New(db)
	now := time.Now().UTC()
	for _, c := range []bridge.Capture{
		{InvoiceID: 41, InvoiceIncrementID: "000000041", OrderID: 4, PaymentID: "pay_41", CaptureID: bridge.CaptureID(41), Gateway: "stripe",
			Amount: 5700, Currency: "USD", Step: bridge.CaptureRefused, Reason: "the payment is voided, not authorised"},
		{InvoiceID: 42, InvoiceIncrementID: "000000042", OrderID: 5, PaymentID: "pay_42", CaptureID: bridge.CaptureID(42), Gateway: "stripe",
			Amount: 1250, Currency: "EUR", Step: bridge.CaptureDone},
	} {
		if _, err := store.AddCapture(ctx, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetCaptureStep(ctx, 41, bridge.CaptureFailed, "", "", now); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args    []string
		wantErr string // empty: no error
		want    []string
		notWant []string
	}{
		{[]string{"captures"}, "", []string{"INVOICE", "magento-inv-41", "magento-inv-42", "5700 USD", "voided"}, nil},
		{[]string{"captures", "--step", "failed"}, "", []string{"magento-inv-41", "failed"}, []string{"magento-inv-42"}},
		{[]string{"captures", "--step", "failed", "--limit", "5"}, "", []string{"magento-inv-41"}, []string{"magento-inv-42"}},
		{[]string{"dead-letters", "--all", "--json"}, "", nil, []string{"magento-inv"}},
		{[]string{"captures", "--step", "done", "--json"}, "", []string{`"invoice_id": 42`, `"currency": "EUR"`}, []string{"magento-inv-41"}},
		{[]string{"captures", "--step", "pending"}, "", []string{"no pending captures"}, nil},
		{[]string{"captures", "--step", "stuck"}, `step "stuck" is not one of`, nil, nil},
		{[]string{"retry-capture"}, "usage: magento-bridge retry-capture <Magento invoice id>", nil, nil},
		{[]string{"retry-capture", "x"}, `"x" is not a Magento invoice id`, nil, nil},
		{[]string{"retry-capture", "99"}, "No capture for invoice 99.", nil, nil},
		{[]string{"retry-capture", "42"}, "is done; only a failed capture can be retried", nil, nil},
		{[]string{"retry-capture", "41"}, "", []string{"invoice 000000041 (id 41, payment pay_41) is pending again", "5700 USD", "magento-inv-41"}, nil},
		{[]string{"retry-capture", "41"}, "is pending; only a failed capture can be retried", nil, nil},
		{[]string{"captures", "--step", "pending"}, "", []string{"magento-inv-41", "retried by cli"}, []string{"magento-inv-42"}},
		{[]string{"captures", "--step", "pending", "--json"}, "", []string{`"invoice_id": 41`, `"step": "pending"`}, []string{"magento-inv-42"}},
		{[]string{"captures", "--step", "pending", "failed"}, "usage: magento-bridge captures", nil, nil},
		{[]string{"captures", "--limit", "0"}, "--limit must be between 1 and 1000", nil, nil},
	}
	for _, tt := range tests {
		out, err := run(tt.args...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q = %v; want an error with %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q = %v", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q printed %q; want %q in it", tt.args, out, w)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%q printed %q; want no %q", tt.args, out, w)
			}
		}
	}
}
