package httpserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magefleet/platform/internal/errs"
)

// Validator is implemented by request parameter structs.
type Validator interface {
	Validate() error
}

// BindJSON decodes the request body into dst, refusing unknown fields, trailing
// data and oversized bodies with errs codes that name the problem, then runs
// dst's Validate method when it has one.
func BindJSON(c *gin.Context, dst any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return errs.E(errs.Invalid, "The request body must hold a single JSON object.")
	}
	if v, ok := dst.(Validator); ok {
		return v.Validate()
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "The request body is empty; a JSON object is required.")
	case errors.As(err, &tooBig):
		return errs.E(errs.TooLarge, "The request body exceeds %d bytes.", tooBig.Limit)
	case errors.As(err, &syntax):
		return errs.E(errs.Invalid, "The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "The request body is truncated JSON.")
	case errors.As(err, &typ):
		return errs.Invalidf(typ.Field, "must be a %s", typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Invalidf(field, "is not a field this endpoint accepts")
	default:
		return errs.Wrap(errs.Invalid, err, "The request body could not be read: %v.", err)
	}
}

// Problem is a helper for Validate methods that collect field problems into
// one Invalid error.
type Problem struct{ fields map[string]string }

// Add records that field has a problem.
func (p *Problem) Add(field, format string, args ...any) {
	if p.fields == nil {
		p.fields = map[string]string{}
	}
	if _, ok := p.fields[field]; !ok {
		p.fields[field] = fmt.Sprintf(format, args...)
	}
}

// Err returns an Invalid error listing every recorded field, or nil.
func (p *Problem) Err() error {
	if len(p.fields) == 0 {
		return nil
	}
	parts := make([]string, 0, len(p.fields))
	for f, m := range p.fields {
		parts = append(parts, f+": "+m)
	}
	sort.Strings(parts)
	return &errs.Error{Code: errs.Invalid, Message: strings.Join(parts, "; "), Fields: p.fields}
}
