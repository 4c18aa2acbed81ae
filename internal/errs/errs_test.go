package errs_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/magefleet/platform/internal/errs"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errs.E(errs.Invalid, "bad"), http.StatusBadRequest},
		{errs.E(errs.Unauthorized, "who"), http.StatusUnauthorized},
		{errs.E(errs.Forbidden, "no"), http.StatusForbidden},
		{errs.E(errs.NotFound, "gone"), http.StatusNotFound},
		{errs.E(errs.Conflict, "again"), http.StatusConflict},
		{errs.E(errs.Gone, "dead"), http.StatusGone},
		{errs.E(errs.RateLimited, "slow"), http.StatusTooManyRequests},
		{errs.E(errs.Unavailable, "down"), http.StatusServiceUnavailable},
		{errs.E(errs.OutcomeUnknown, "?"), http.StatusBadGateway},
		{errs.E(errs.Timeout, "late"), http.StatusGatewayTimeout},
		{errs.E(errs.TooLarge, "big"), http.StatusRequestEntityTooLarge},
		{&errs.Error{Code: "invalid_code", Status: http.StatusUnauthorized}, http.StatusUnauthorized},
		{&errs.Error{Code: "made_up"}, http.StatusInternalServerError},
		{io.EOF, http.StatusInternalServerError},
		{fmt.Errorf("load cart: %w", errs.E(errs.NotFound, "no cart")), http.StatusNotFound},
	}
	for _, tt := range tests {
		if got := errs.Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

func TestCodeAndIs(t *testing.T) {
	wrapped := fmt.Errorf("outer: %w", errs.Wrap(errs.Conflict, io.EOF, "key reused"))
	if got := errs.Code(wrapped); got != errs.Conflict {
		t.Errorf("Code() = %q; want %q", got, errs.Conflict)
	}
	if !errors.Is(wrapped, io.EOF) {
		t.Error("errors.Is(wrapped, io.EOF) = false; want the cause reachable")
	}
	if !errors.Is(wrapped, &errs.Error{Code: errs.Conflict}) {
		t.Error("errors.Is by code = false; want true")
	}
	if errors.Is(wrapped, &errs.Error{Code: errs.NotFound}) {
		t.Error("errors.Is(other code) = true; want false")
	}
	if errs.Code(nil) != "" || errs.Code(io.EOF) != errs.Internal {
		t.Errorf("Code(nil), Code(plain) = %q, %q", errs.Code(nil), errs.Code(io.EOF))
	}
	if e := errs.As(io.EOF); e.Code != errs.Internal || e.Message == "" || !errors.Is(e, io.EOF) {
		t.Errorf("As(plain) = %+v; want an internal error wrapping it", e)
	}
}
