package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigCaptureSync(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		lookback time.Duration
		wantKey  string // empty: valid
	}{
		{"defaults", 30 * time.Second, 24 * time.Hour, ""},
		{"no lookback", time.Second, 0, ""},
		{"zero interval", 0, time.Hour, "bridge.capture_poll_interval"},
		{"negative interval", -time.Second, time.Hour, "bridge.capture_poll_interval"},
		{"negative lookback", time.Second, -time.Hour, "bridge.capture_lookback"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Env = "development"
		cfg.Bridge.CapturePollInterval, cfg.Bridge.CaptureLookback = tt.interval, tt.lookback
		err := cfg.Validate()
		if tt.wantKey == "" && err != nil || tt.wantKey != "" && (err == nil || !strings.Contains(err.Error(), tt.wantKey)) {
			t.Errorf("%s: Validate() = %v; want %q refused (none when empty)", tt.name, err, tt.wantKey)
		}
	}
}
