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

func TestMailbox(t *testing.T) {
	tests := []struct{ in, want string }{
		{"victim@example.com", "victim@example.com"},
		{"Victim@Example.COM", "victim@example.com"},
		{"victim+1@example.com", "victim@example.com"},
		{"victim+a+b@example.com", "victim@example.com"},
		{"v.ictim@example.com", "v.ictim@example.com"}, // dots matter outside Gmail
		{"v.ictim@gmail.com", "victim@gmail.com"},
		{"V.I.C.T.I.M+x@GMail.com", "victim@gmail.com"},
		{"victim@googlemail.com", "victim@gmail.com"},
		{"vic.tim+y@googlemail.com", "victim@gmail.com"},
		{"victim@mail.gmail.com", "victim@mail.gmail.com"}, // not Gmail
		{"+tag@example.com", "+tag@example.com"},           // nothing before the tag
		{`"v.ictim+1"@gmail.com`, `"v.ictim+1"@gmail.com`}, // quoted: left alone
	}
	for _, tt := range tests {
		if got := mailbox(tt.in); got != tt.want {
			t.Errorf("mailbox(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	// Phones and emails: the destination's limit key.
	d := Destination{Kind: KindEmail, Value: "v.ictim+1@gmail.com"}
	if got := d.limitKey(); got != "victim@gmail.com" {
		t.Errorf("limitKey(%s) = %q; want victim@gmail.com", d.Value, got)
	}
	if p := (Destination{Kind: KindPhone, Value: "+919876543210"}); p.limitKey() != p.Value {
		t.Errorf("limitKey(phone) = %q; want the number", p.limitKey())
	}
}
