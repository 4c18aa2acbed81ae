package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/magefleet/platform/checkout-service/internal/checkouthttp"
)

// TestOpenAPICoversEveryRoute checks that every JSON API route the handler
// registers is documented, and nothing documented is missing.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	spec, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	(&checkouthttp.Handler{}).Register(e)
	param := regexp.MustCompile(`:([a-z_]+)`)
	registered := map[string]bool{}
	for _, r := range e.Routes() {
		p := param.ReplaceAllString(r.Path, "{$1}")
		if strings.HasPrefix(p, "/sandbox/") {
			continue // the sandbox's HTML page is not API
		}
		registered[r.Method+" "+p] = true
	}
	documented := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	norm := func(s string) string { return regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(s, "{}") }
	docNorm := map[string]bool{}
	for k := range documented {
		docNorm[norm(k)] = true
	}
	regNorm := map[string]bool{}
	for k := range registered {
		regNorm[norm(k)] = true
		if !docNorm[norm(k)] {
			t.Errorf("route %s is not in openapi.yaml", k)
		}
	}
	for k := range documented {
		if !regNorm[norm(k)] {
			t.Errorf("openapi.yaml documents %s, which the service does not serve", k)
		}
	}
}
