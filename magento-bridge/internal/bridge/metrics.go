package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bridge's Prometheus metrics. Build them with NewMetrics;
// they are safe for concurrent use.
type Metrics struct {
	Backlog         prometheus.Gauge
	OldestAge       prometheus.Gauge
	InFlight        prometheus.Gauge
	OpenDeadLetters prometheus.Gauge
	Synced          prometheus.Counter
	Duplicates      prometheus.Counter
	DuplicateOrders prometheus.Counter
	AmountMismatch  prometheus.Counter
	LostLeases      prometheus.Counter
	Unplaceable     prometheus.Counter
	Retries         *prometheus.CounterVec
	DeadLetters     *prometheus.CounterVec
	Lag             prometheus.Histogram
	EventDuration   prometheus.Histogram
	MagentoLatency  *prometheus.HistogramVec
	MagentoErrors   *prometheus.CounterVec
	MagentoLimit    prometheus.Gauge
	Refunds         *prometheus.CounterVec
	Voids           *prometheus.CounterVec
	ForeignOrders   prometheus.Counter
	Captures        *prometheus.CounterVec
	CaptureFailures prometheus.Counter
}

// NewMetrics builds the metrics and registers them with reg when it is not
// nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Backlog:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "bridge_outbox_backlog", Help: "payment.captured events not yet synced."}),
		OldestAge:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "bridge_outbox_oldest_age_seconds", Help: "Age of the oldest unsynced event (lag)."}),
		InFlight:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "bridge_outbox_in_flight", Help: "Events leased to a worker now."}),
		OpenDeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bridge_dead_letters_open", Help: "Dead letters awaiting an operator."}),
		Synced:          prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_orders_synced_total", Help: "Payments turned into Magento orders (invoiced, or placed un-invoiced for an authorised-only payment)."}),
		Duplicates:      prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_duplicate_events_total", Help: "Events for payments that already had their order."}),
		DuplicateOrders: prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_duplicate_orders_total", Help: "Carts found with more than one Magento order (alert)."}),
		AmountMismatch:  prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_amount_mismatch_total", Help: "Orders whose Magento total differs from the amount charged (alert)."}),
		LostLeases:      prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_lost_leases_total", Help: "Attempts stopped because their lease passed to another worker."}),
		Unplaceable:     prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_unplaceable_total", Help: "Captured payments that cannot become an order (alert)."}),
		Retries:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_retries_total", Help: "Attempts scheduled for a retry, by step and error code."}, []string{"step", "code"}),
		DeadLetters:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_dead_letters_total", Help: "Events parked as dead letters, by reason."}, []string{"reason"}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bridge_sync_lag_seconds", Help: "Time from capture (outbox row) to synced order.",
			Buckets: []float64{.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600}}),
		EventDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bridge_event_duration_seconds", Help: "Time one successful attempt took.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30}}),
		MagentoLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bridge_magento_request_duration_seconds", Help: "Magento request latency by operation.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30}}, []string{"op"}),
		MagentoErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_magento_errors_total", Help: "Magento request errors by operation and code."}, []string{"op", "code"}),
		MagentoLimit:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "bridge_magento_concurrency_limit", Help: "Current adaptive cap on requests in flight to Magento."}),
		Refunds:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_refunds_total", Help: "Credit memos refunded through checkout, by outcome."}, []string{"outcome"}),
		Voids:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_voids_total", Help: "Cancelled orders whose authorisation was voided, by outcome."}, []string{"outcome"}),
		ForeignOrders: prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_foreign_orders_total",
			Help: "Magento orders with the bridge's offline payment method that the platform did not place: unpaid (alert)."}),
		Captures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bridge_captures_total",
			Help: "Capture calls to checkout for invoices of authorised platform orders, by outcome (captured, retry)."}, []string{"outcome"}),
		CaptureFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "bridge_capture_failures_total",
			Help: "Invoices of authorised platform orders whose payment was not captured (checkout refused it for good): do not ship (alert)."}),
	}
	if reg != nil {
		reg.MustRegister(m.Backlog, m.OldestAge, m.InFlight, m.OpenDeadLetters, m.Synced, m.Duplicates, m.DuplicateOrders,
			m.AmountMismatch, m.LostLeases, m.Unplaceable, m.Retries, m.DeadLetters, m.Lag, m.EventDuration,
			m.MagentoLatency, m.MagentoErrors, m.MagentoLimit, m.Refunds, m.Voids, m.ForeignOrders, m.Captures, m.CaptureFailures)
	}
	return m
}

// SetStatus copies a status snapshot into the gauges.
func (m *Metrics) SetStatus(st Status) {
	m.Backlog.Set(float64(st.Backlog))
	m.OldestAge.Set(st.OldestAgeSeconds)
	m.InFlight.Set(float64(st.InFlight))
	m.OpenDeadLetters.Set(float64(st.DeadLetters))
}
