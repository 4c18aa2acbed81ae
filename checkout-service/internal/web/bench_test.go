package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// BenchmarkRenderPaymentPage measures the server time of the heaviest page
// (session, page state, a cart read and the render), over a fake checkout
// domain and real Redis, and reports its p99.
func BenchmarkRenderPaymentPage(b *testing.B) {
	s := newStack(b)
	br := s.browser(b)
	_, base := br.start()
	br.toPayment(base)
	cookies := br.c.Jar.Cookies(mustURL(s.srv.URL))
	e := gin.New()
	s.p.Register(e)
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, base+"/payment", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		start := time.Now()
		e.ServeHTTP(w, req)
		durations = append(durations, time.Since(start))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Pay $") {
			b.Fatalf("GET payment = %d", w.Code)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	p := func(q float64) float64 {
		return float64(durations[int(q*float64(len(durations)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// BenchmarkTemplateOnly is the render alone, without Redis round trips.
func BenchmarkTemplateOnly(b *testing.B) {
	s := newStack(b)
	sess, _ := s.core.StartSession(b.Context(), startParams(s.core.addCart()))
	v := &view{Title: "Payment", Step: "payment", Steps: steps(sess.ID, "payment", sess), CSRF: "x",
		Summary: s.p.summary(sess.Items, sess.Totals, true), Widget: &widgetView{Kind: WidgetSandbox, AttemptKey: "k", Total: "$1.00"}}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		start := time.Now()
		if err := s.p.render(c, http.StatusOK, "payment", v); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[int(0.99*float64(len(durations)-1))].Microseconds())/1000, "p99-ms")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
