package otp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus series. Conversion is
// sum(rate(otp_verifies_total{result="success"})) / sum(rate(otp_sends_total{result="sent"})),
// by channel, provider or country: a provider that stops delivering shows as
// a falling conversion.
type metrics struct {
	sends        *prometheus.CounterVec
	verifies     *prometheus.CounterVec
	logins       *prometheus.CounterVec
	limited      *prometheus.CounterVec
	breakerTrips *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_sends_total", Help: "Codes sent, by channel, provider, country and result (sent, failed, paused).",
		}, []string{"channel", "provider", "country", "result"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_verifies_total", Help: "Verify attempts by channel, the provider that sent the code, country and result (success, invalid_code, gone, expired, locked, rate_limited).",
		}, []string{"channel", "provider", "country", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_logins_total", Help: "Completed logins by channel, country and identity kind (returning, new).",
		}, []string{"channel", "country", "kind"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_rate_limited_total", Help: "Requests refused by a limit, by operation and limit.",
		}, []string{"op", "limit"}),
		breakerTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otp_breaker_trips_total", Help: "SMS pumping breaker trips by scope kind (cc country, px prefix).",
		}, []string{"scope"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sends, m.verifies, m.logins, m.limited, m.breakerTrips} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
