package otp_test

import (
	"context"
	"sync"
	"testing"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// existingCustomers is memCustomers where every email belongs to customer id.
type existingCustomers struct {
	memCustomers
	id int64
}

func (c *existingCustomers) FindByEmail(context.Context, string) (int64, error) { return c.id, nil }

// pending is an otp.Confirmations: the customers in it wait for their email
// confirmation.
type pending map[int64]bool

func (p pending) PendingConfirmation(_ context.Context, id int64) (bool, error) { return p[id], nil }

// recorder is an otp.Auditor that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []otp.Event
}

func (r *recorder) Record(e otp.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) has(typ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// An email code claims an existing Magento customer only when its account
// does not wait for email confirmation, and only when that can be checked.
func TestEmailCodeClaimsOnlyConfirmedCustomers(t *testing.T) {
	tests := []struct {
		name          string
		confirmations otp.Confirmations
		wantCode      string
	}{
		{"pending", pending{42: true}, otp.CodeEmailUnconfirmed},
		{"no check configured", nil, errs.Unavailable},
		{"confirmed", pending{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := &recorder{}
			d := f.deps
			d.Customers = &existingCustomers{id: 42}
			d.Confirmations = tt.confirmations
			d.Audit = rec
			svc, err := otp.New(f.cfg, d)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			res, err := svc.Start(ctx, otp.StartRequest{Email: "asha@example.com"}, meta)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: f.out.code("asha@example.com")}, meta)
			if errs.Code(err) != tt.wantCode {
				t.Fatalf("Verify = %+v, %v; want code %q", sess, err, tt.wantCode)
			}
			if tt.wantCode == "" {
				if sess.Identity.MagentoCustomerID != 42 {
					t.Errorf("claimed customer %d; want 42", sess.Identity.MagentoCustomerID)
				}
				return
			}
			if _, err := f.ids.FindIdentity(ctx, otp.KindEmail, "asha@example.com"); !errs.Is(err, errs.NotFound) {
				t.Errorf("identity after a refused claim: %v; want none", err)
			}
			if tt.wantCode == otp.CodeEmailUnconfirmed {
				if errs.Status(err) != 403 {
					t.Errorf("status %d; want 403", errs.Status(err))
				}
				if !rec.has(otp.EventClaimRefused) {
					t.Errorf("audit %+v; want a %s event", rec.events, otp.EventClaimRefused)
				}
			}
		})
	}
}
