// Package magentoschema holds Magento's published admin REST schema up as the
// judge of every request and response that crosses the Magento boundary.
//
// It loads Adobe's generated Swagger 2.0 file for Magento 2.4.5 (read-only, from
// /work/shared/reference/magento beside the repository), converts it to OpenAPI 3
// with kin-openapi and validates HTTP exchanges with openapi3filter. The file's
// base path is /rest/default; a Validator maps /rest/<store>/V1/... and
// /rest/V1/... onto it, so any store code is judged by the same schema.
//
// The generated schema is wrong in a few documented places, and each is handled by
// one narrow exception (see the Exception* constants), never by loosening the
// whole document:
//
//   - ExceptionErrorParameters: Magento's error body carries "parameters" as a
//     list of scalars (for %1 placeholders) or an object of scalars (for %name
//     placeholders; Magento_TwoFactorAuth also sends a list of scalars there,
//     {"active_providers": ["google"]}), while the schema declares a list of
//     objects. For error responses (status >= 400) the parameters value is
//     checked against that real shape and the rest of the body against the
//     schema.
//   - ExceptionTFARoute: POST /V1/tfa/provider/google/authenticate
//     (Magento_TwoFactorAuth) is missing from the generated file. It is checked
//     against a local schema built from the module's webapi.xml: a body with
//     string username, password and otp, answering a bare JSON string.
//
// A Validator is safe for concurrent use.
package magentoschema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Names of the narrow exceptions to the generated schema; see the package doc.
const (
	ExceptionErrorParameters = "error-parameters-shape"
	ExceptionTFARoute        = "tfa-google-authenticate-route"
)

// TFAAuthenticatePath is the Magento_TwoFactorAuth route missing from the schema.
const TFAAuthenticatePath = "/V1/tfa/provider/google/authenticate"

// schemaRel is the schema's path relative to the directory holding the repository.
var schemaRel = []string{"shared", "reference", "magento", "magento-2.4.5-admin-rest.swagger.json"}

// b2bPrefixes lists the operation id prefixes of Adobe Commerce and B2B
// modules an open-source store lacks; requests routed to them are refused.
var b2bPrefixes = []string{"giftCard", "customerBalance", "company", "negotiable", "sharedCatalog", "amazon", "worldpay", "temando"}

// Validator validates requests and responses against the schema.
type Validator struct {
	doc *openapi3.T
	// routers holds one router per HTTP method. The schema declares some
	// paths twice with different parameter names (GET /V1/orders/{id} beside
	// PUT /V1/orders/{parent_id}), and a single gorillamux router stops at
	// the first template whose method differs; per-method routers see each
	// template once.
	routers map[string]routers.Router
}

// DefaultPath finds the schema file: it walks up from the working directory to
// the directory holding go.mod and returns ../shared/reference/magento/... from there.
func DefaultPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("schema path: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir, ".."}, schemaRel...)...), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("schema path: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Load reads the Swagger 2.0 file at path and builds a Validator.
func Load(path string) (*Validator, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert schema: %w", err)
	}
	// Requests are matched on the path below the base path (see routePath), so
	// the server is the root.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	addTFARoute(doc)
	v := &Validator{doc: doc, routers: map[string]routers.Router{}}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		sub := *doc
		sub.Paths = openapi3.NewPaths()
		for path, item := range doc.Paths.Map() {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			pi := &openapi3.PathItem{Parameters: item.Parameters, Servers: item.Servers}
			pi.SetOperation(method, op)
			sub.Paths.Set(path, pi)
		}
		r, err := gorillamux.NewRouter(&sub)
		if err != nil {
			return nil, fmt.Errorf("schema router for %s: %w", method, err)
		}
		v.routers[method] = r
	}
	return v, nil
}

var (
	defaultOnce sync.Once
	defaultV    *Validator
	defaultErr  error
)

// Default loads the schema from DefaultPath once per process and returns the
// shared, immutable Validator.
func Default() (*Validator, error) {
	defaultOnce.Do(func() {
		path, err := DefaultPath()
		if err != nil {
			defaultErr = err
			return
		}
		defaultV, defaultErr = Load(path)
	})
	return defaultV, defaultErr
}

// addTFARoute declares POST /V1/tfa/provider/google/authenticate
// (ExceptionTFARoute).
func addTFARoute(doc *openapi3.T) {
	str := openapi3.NewStringSchema()
	body := openapi3.NewObjectSchema().
		WithProperty("username", str).
		WithProperty("password", str).
		WithProperty("otp", str)
	body.Required = []string{"username", "password", "otp"}
	errRef := &openapi3.SchemaRef{Ref: "#/components/schemas/error-response", Value: doc.Components.Schemas["error-response"].Value}
	op := openapi3.NewOperation()
	op.OperationID = "twoFactorAuthGoogleAuthenticateV1CreateAdminAccessTokenPost"
	op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchema(body)}
	op.Responses = openapi3.NewResponses(
		openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Admin token").WithJSONSchema(openapi3.NewStringSchema())}),
		openapi3.WithName("default", openapi3.NewResponse().WithDescription("Unexpected error").WithJSONSchemaRef(errRef)),
	)
	doc.AddOperation(TFAAuthenticatePath, http.MethodPost, op)
}

// RoutePath maps a request path onto the schema's paths: /rest/<store>/V1/x and
// /rest/V1/x become /V1/x. It reports false for paths outside the REST API.
func RoutePath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/rest/")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(rest, "V1/") {
		return "/" + rest, true
	}
	i := strings.IndexByte(rest, '/')
	if i <= 0 || !strings.HasPrefix(rest[i+1:], "V1/") {
		return "", false
	}
	return rest[i:], true
}

// Exchange is one HTTP request and response as seen on the wire.
type Exchange struct {
	Method      string
	URL         *url.URL
	Header      http.Header
	Body        []byte
	Status      int
	RespHeader  http.Header
	RespBody    []byte
	HasResponse bool
}

// findRoute routes the request after mapping its path.
func (v *Validator) findRoute(method string, u *url.URL, header http.Header, body []byte) (*routers.Route, map[string]string, *http.Request, error) {
	p, ok := RoutePath(u.Path)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s %s: not a Magento REST path (/rest/[<store>/]V1/...)", method, u.Path)
	}
	mapped := *u
	mapped.Path = p
	mapped.RawPath = ""
	if u.RawPath != "" {
		if rp, ok := RoutePath(u.RawPath); ok {
			mapped.RawPath = rp
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), method, mapped.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	router, ok := v.routers[method]
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s %s: no route in the Magento schema for method %s", method, p, method)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s: no route in the Magento schema: %w", method, p, err)
	}
	for _, pre := range b2bPrefixes {
		if strings.HasPrefix(route.Operation.OperationID, pre) {
			return nil, nil, nil, fmt.Errorf("%s %s: operation %s is B2B/Commerce-only", method, p, route.Operation.OperationID)
		}
	}
	return route, params, req, nil
}

// OperationID returns the schema operation a request routes to.
func (v *Validator) OperationID(method string, u *url.URL) (string, error) {
	route, _, _, err := v.findRoute(method, u, http.Header{}, nil)
	if err != nil {
		return "", err
	}
	return route.Operation.OperationID, nil
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
}

// ValidateRequest checks that the request routes to a schema operation and that
// its parameters and JSON body validate.
func (v *Validator) ValidateRequest(ctx context.Context, x Exchange) error {
	route, params, req, err := v.findRoute(x.Method, x.URL, x.Header, x.Body)
	if err != nil {
		return err
	}
	if len(x.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options()}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return fmt.Errorf("%s %s request (%s): %w", x.Method, req.URL.Path, route.Operation.OperationID, err)
	}
	return nil
}

// ValidateResponse checks the response body of an exchange against the
// operation's response schema for its status (or "default").
func (v *Validator) ValidateResponse(ctx context.Context, x Exchange) error {
	route, params, req, err := v.findRoute(x.Method, x.URL, x.Header, x.Body)
	if err != nil {
		return err
	}
	if len(x.Body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	body := x.RespBody
	if x.Status >= 400 {
		body, err = checkErrorParameters(body)
		if err != nil {
			return fmt.Errorf("%s %s response %d: %w", x.Method, req.URL.Path, x.Status, err)
		}
	}
	hdr := x.RespHeader.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}
	opts := options()
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 x.Status,
		Header:                 hdr,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("%s %s response %d (%s): %w", x.Method, req.URL.Path, x.Status, route.Operation.OperationID, err)
	}
	return nil
}

// checkErrorParameters implements ExceptionErrorParameters: it checks an error
// body's "parameters" against Magento's real shapes (a list of scalars or an
// object of scalars) and returns the body without it for schema validation.
// Bodies that are not JSON objects are returned unchanged for the schema to judge.
func checkErrorParameters(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body, nil
	}
	raw, ok := m["parameters"]
	if !ok {
		return body, nil
	}
	var list []any
	var obj map[string]any
	switch {
	case json.Unmarshal(raw, &list) == nil:
		for i, p := range list {
			if !scalar(p) {
				return nil, fmt.Errorf("error parameters[%d] is %T, want a string or number", i, p)
			}
		}
	case json.Unmarshal(raw, &obj) == nil:
		for k, p := range obj {
			if l, ok := p.([]any); ok && !slices.ContainsFunc(l, func(x any) bool { return !scalar(x) }) {
				continue
			}
			if !scalar(p) {
				return nil, fmt.Errorf("error parameters[%q] is %T, want a scalar or a list of scalars", k, p)
			}
		}
	default:
		return nil, fmt.Errorf("error parameters is %s, want a list or an object", raw)
	}
	delete(m, "parameters")
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("error body: %w", err)
	}
	return out, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, float64, bool:
		return true
	}
	return false
}

// Report receives validation failures from Middleware and Transport.
type Report func(error)

// Middleware wraps a Magento-like handler: every request under /rest/ and its
// response are validated and failures passed to report. Other paths pass
// through unchecked. The wrapped handler still answers every request.
func (v *Validator) Middleware(next http.Handler, report Report) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := RoutePath(r.URL.Path); !ok {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			report(fmt.Errorf("%s %s: read body: %w", r.Method, r.URL.Path, err))
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		x := Exchange{Method: r.Method, URL: r.URL, Header: r.Header, Body: body}
		reqErr := v.ValidateRequest(r.Context(), x)
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		// A request the schema refuses should have been refused by the server
		// too; only a success answer to an invalid request is a failure.
		if reqErr != nil && rec.status < 400 {
			report(reqErr)
		}
		if reqErr == nil || rec.status >= 400 {
			x.Status, x.RespHeader, x.RespBody = rec.status, rec.header, rec.body.Bytes()
			if _, _, _, err := v.findRoute(x.Method, x.URL, x.Header, nil); err == nil {
				if err := v.ValidateResponse(r.Context(), x); err != nil {
					report(err)
				}
			}
		}
	})
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// Transport wraps base (http.DefaultTransport when nil) so every request a
// client sends under /rest/ must validate, and every response it receives
// too. Failures go to report; the exchange itself is not altered.
func (v *Validator) Transport(base http.RoundTripper, report Report) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if _, ok := RoutePath(r.URL.Path); !ok {
			return base.RoundTrip(r)
		}
		var body []byte
		if r.Body != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, fmt.Errorf("read request body: %w", err)
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		x := Exchange{Method: r.Method, URL: r.URL, Header: r.Header, Body: body}
		if err := v.ValidateRequest(r.Context(), x); err != nil {
			report(err)
		}
		resp, err := base.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		rb, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read response body: %w", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(rb))
		x.Status, x.RespHeader, x.RespBody = resp.StatusCode, resp.Header, rb
		if err := v.ValidateResponse(r.Context(), x); err != nil {
			report(err)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
