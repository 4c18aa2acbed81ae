package checkouthttp

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/routing"
)

// Metrics are the checkout's Prometheus metrics.
type Metrics struct {
	payments *prometheus.CounterVec
	captures *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg: payments and captures answered
// by status and gateway, and each gateway's breaker state and technical
// error rate from the router's current statistics.
func NewMetrics(reg prometheus.Registerer, svc *checkout.Service) *Metrics {
	m := &Metrics{payments: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "checkout_payments_total", Help: "Payment requests answered, by payment status and gateway.",
	}, []string{"status", "gateway"}),
		captures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "checkout_capture_requests_total", Help: "Capture requests of authorised payments answered with the payment (repeats included), by payment status and gateway.",
		}, []string{"status", "gateway"})}
	reg.MustRegister(m.payments, m.captures, &gatewayCollector{svc: svc})
	return m
}

func (m *Metrics) payment(p *checkout.Payment) {
	if m != nil {
		m.payments.WithLabelValues(p.Status, p.Gateway).Inc()
	}
}

func (m *Metrics) capture(p *checkout.Payment) {
	if m != nil {
		m.captures.WithLabelValues(p.Status, p.Gateway).Inc()
	}
}

var (
	breakerDesc = prometheus.NewDesc("checkout_gateway_breaker_open", "1 when the gateway's circuit is open, 0.5 half-open, 0 closed.", []string{"gateway"}, nil)
	techDesc    = prometheus.NewDesc("checkout_gateway_technical_error_rate", "Technical error rate in the gateway's window.", []string{"gateway"}, nil)
)

type gatewayCollector struct{ svc *checkout.Service }

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- techDesc
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.svc.Snapshot()
	if snap == nil {
		return
	}
	for _, g := range snap.Gateways {
		v := 0.0
		switch g.Breaker {
		case routing.BreakerOpen:
			v = 1
		case routing.BreakerHalfOpen:
			v = 0.5
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, g.Gateway)
		ch <- prometheus.MustNewConstMetric(techDesc, prometheus.GaugeValue, g.TechErrorRate, g.Gateway)
	}
}
