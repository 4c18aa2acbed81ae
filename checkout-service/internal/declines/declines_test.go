package declines_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/magefleet/platform/checkout-service/internal/declines"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

// TestBucket pins the examples of the decline table in
// ../shared/reference/payments.md.
func TestBucket(t *testing.T) {
	tests := map[string]gateway.Bucket{
		"processing_error": gateway.Technical, "issuer_not_available": gateway.Technical, "try_again_later": gateway.Technical,
		"authentication_required": gateway.Authentication,
		"generic_decline":         gateway.Generic, "do_not_honor": gateway.Generic, "call_issuer": gateway.Generic,
		"insufficient_funds": gateway.ShopperFixable, "incorrect_cvc": gateway.ShopperFixable, "expired_card": gateway.ShopperFixable,
		"card_velocity_exceeded": gateway.ShopperFixable,
		"card_not_supported":     gateway.Capability, "currency_not_supported": gateway.Capability,
		"lost_card": gateway.Hard, "stolen_card": gateway.Hard, "pickup_card": gateway.Hard, "fraudulent": gateway.Hard, "do_not_try_again": gateway.Hard,
		"INSUFFICIENT_FUNDS": gateway.ShopperFixable,
		"never_heard_of_it":  gateway.Generic,
	}
	for code, want := range tests {
		if got := declines.Bucket(code); got != want {
			t.Errorf("Bucket(%q) = %q; want %q", code, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	d := declines.New("", "raw")
	if d.Code != "generic_decline" || d.Bucket != gateway.Generic || d.Message == "" || d.Raw != "raw" {
		t.Errorf("New(\"\") = %+v", d)
	}
	if d := declines.New("insufficient_funds", "x"); d.Message == "" || d.Bucket != gateway.ShopperFixable {
		t.Errorf("New(insufficient_funds) = %+v", d)
	}
	r := declines.Failed("ref", "stolen_card", "card_declined/stolen_card")
	if r.Status != gateway.Failed || r.Reference != "ref" || r.Decline.Bucket != gateway.Hard {
		t.Errorf("Failed() = %+v", r)
	}
}

func TestTransport(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://api.example/v1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	dns := &url.Error{Op: "Post", URL: "https://api.example/v1", Err: &net.DNSError{Err: "no such host", Name: "api.example"}}
	reset := &url.Error{Op: "Post", URL: "https://api.example/v1", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	timeout := &url.Error{Op: "Post", URL: "https://api.example/v1", Err: fmt.Errorf("awaiting headers: %w", context.DeadlineExceeded)}
	tests := []struct {
		name  string
		err   error
		write bool
		want  string
	}{
		{"refused write", refused, true, errs.Unavailable},
		{"dns write", dns, true, errs.Unavailable},
		{"reset write", reset, true, errs.OutcomeUnknown},
		{"timeout write", timeout, true, errs.OutcomeUnknown},
		{"reset read", reset, false, errs.Unavailable},
		{"timeout read", timeout, false, errs.Timeout},
	}
	for _, tt := range tests {
		if got := declines.Transport(tt.err, "op", tt.write); !errors.Is(got, &errs.Error{Code: tt.want}) {
			t.Errorf("Transport(%s) = %v; want %s", tt.name, got, tt.want)
		}
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		status int
		write  bool
		want   string
	}{
		{500, true, errs.OutcomeUnknown},
		{503, true, errs.OutcomeUnknown},
		{500, false, errs.Unavailable},
		{429, true, errs.Unavailable},
		{400, true, errs.Unavailable},
		{401, true, errs.Unavailable},
		{404, false, errs.NotFound},
	}
	for _, tt := range tests {
		if got := declines.Status(tt.status, "op", tt.write, nil); !errors.Is(got, &errs.Error{Code: tt.want}) {
			t.Errorf("Status(%d, write=%v) = %v; want %s", tt.status, tt.write, got, tt.want)
		}
	}
}
