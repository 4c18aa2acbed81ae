package otp

import "net/netip"

// limitIP returns the subject under which per-IP limits count a client
// address: an IPv4 address as it is (an IPv4-mapped IPv6 address as its
// IPv4 form), an IPv6 address as its /64, the block one subscriber is
// usually given, so a client cannot step through its addresses past the
// limits. Anything that is not an IP address is returned unchanged.
func limitIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
