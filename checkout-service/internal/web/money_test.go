package web

import "testing"

func TestMoneyFormat(t *testing.T) {
	tests := []struct {
		locale, currency string
		minor            int64
		want             string
	}{
		{"en-US", "USD", 13500, "$135.00"},
		{"en-US", "USD", 5, "$0.05"},
		{"en-US", "USD", 0, "$0.00"},
		{"en-US", "USD", -2400, "−$24.00"},
		{"en-US", "USD", 123456789, "$1,234,567.89"},
		{"en-IN", "INR", 123456789, "₹12,34,567.89"},
		{"en-IN", "INR", 99900, "₹999.00"},
		{"de-DE", "EUR", 123456, "1.234,56\u00a0€"},
		{"fr-FR", "EUR", 123456, "1\u202f234,56\u00a0€"},
		{"en-GB", "GBP", 4999, "£49.99"},
		{"ja-JP", "JPY", 1500, "¥1,500"},
		{"en-US", "KWD", 1234, "KWD\u00a01.234"},
		{"en-US", "usd", 100, "$1.00"},
	}
	for _, tt := range tests {
		m, ok := NewMoney(tt.locale)
		if !ok {
			t.Fatalf("NewMoney(%q) unknown", tt.locale)
		}
		if got := m.Format(tt.minor, tt.currency); got != tt.want {
			t.Errorf("Format(%d, %q) in %s = %q; want %q", tt.minor, tt.currency, tt.locale, got, tt.want)
		}
	}
	var zero Money
	if got := zero.Format(100, "USD"); got != "$1.00" {
		t.Errorf("zero Money: Format = %q; want $1.00", got)
	}
}
