package otp

import "testing"

func TestLimitIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"}, // IPv4-mapped: the IPv4 client
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"not an ip", "not an ip"},
	}
	for _, tt := range tests {
		if got := limitIP(tt.in); got != tt.want {
			t.Errorf("limitIP(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
