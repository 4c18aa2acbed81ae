// Package errs defines the platform's one coded error type and its mapping to
// HTTP status codes.
//
// Domain code returns *Error values (directly or wrapped with %w); the HTTP layer
// renders them in exactly one place. Codes are stable snake_case strings that
// clients may switch on; messages are text a person can act on. Only errors with
// code Internal (or errors that are not *Error at all) are logged by the HTTP
// layer, because every other code describes the caller's request, not a fault.
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Stable error codes. Services may define more specific codes; each must map to
// one of these statuses through Status.
const (
	Invalid        = "invalid"           // 400: the request is malformed or fails validation
	Unauthorized   = "unauthorized"      // 401: missing or bad credentials
	Forbidden      = "forbidden"         // 403: authenticated but not allowed
	NotFound       = "not_found"         // 404
	Conflict       = "conflict"          // 409: state or idempotency conflict
	Gone           = "gone"              // 410: existed once, no longer usable
	TooLarge       = "request_too_large" // 413
	Unprocessable  = "unprocessable"     // 422: valid shape, refused by the domain
	RateLimited    = "rate_limited"      // 429: carries RetryAfter
	Unavailable    = "unavailable"       // 503: a dependency is down
	Timeout        = "timeout"           // 504: a dependency did not answer in time
	OutcomeUnknown = "outcome_unknown"   // 502: a write may or may not have happened
	Internal       = "internal"          // 500
)

// Error is a coded error. The zero value is not useful; build one with E or
// the helpers below.
type Error struct {
	// Code is a stable snake_case code, one of the constants above or a more
	// specific code registered with a status through Status.
	Code string
	// Message is safe to show to the caller.
	Message string
	// Status overrides the status derived from Code when non-zero.
	Status int
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Fields names invalid input fields and why, for validation errors.
	Fields map[string]string
	// Err is the underlying cause; never shown to the caller.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Code + ": " + e.Err.Error()
	default:
		return e.Code + ": " + e.Message
	}
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &errs.Error{Code: errs.NotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && t.Err == nil
}

// E builds an *Error with a formatted message.
func E(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error whose cause is err.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalidf returns an Invalid error naming one field.
func Invalidf(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: Invalid, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

// RateLimitedf returns a RateLimited error that asks the caller to wait.
func RateLimitedf(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: RateLimited, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// Code returns the code of the first *Error in err's chain, Internal for any
// other non-nil error, and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code string) bool { return Code(err) == code }

// As returns the first *Error in err's chain, or an Internal error wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "An internal error occurred. Please try again later.", Err: err}
}

var statuses = map[string]int{
	Invalid:        http.StatusBadRequest,
	Unauthorized:   http.StatusUnauthorized,
	Forbidden:      http.StatusForbidden,
	NotFound:       http.StatusNotFound,
	Conflict:       http.StatusConflict,
	Gone:           http.StatusGone,
	TooLarge:       http.StatusRequestEntityTooLarge,
	Unprocessable:  http.StatusUnprocessableEntity,
	RateLimited:    http.StatusTooManyRequests,
	Unavailable:    http.StatusServiceUnavailable,
	Timeout:        http.StatusGatewayTimeout,
	OutcomeUnknown: http.StatusBadGateway,
	Internal:       http.StatusInternalServerError,
}

// Status returns the HTTP status for err: the *Error's Status when set, else
// the status of its code; unknown codes and non-*Error values are 500.
func Status(err error) int {
	e := As(err)
	if e.Status != 0 {
		return e.Status
	}
	if s, ok := statuses[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}
