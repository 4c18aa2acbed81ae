package otp

import (
	"net/netip"
	"strings"
)

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

// limitKey returns what per-destination limits (the resend gap, sends and
// verifies per destination) count a destination under: a phone's number,
// an email's mailbox (see mailbox). The identity, the delivery and the
// audit use the exact address.
func (d Destination) limitKey() string {
	if d.Kind == KindEmail {
		return mailbox(d.Value)
	}
	return d.Value
}

// mailbox returns the mailbox an email address reaches, as far as the
// address shows it: lower case, without a "+tag" in the local part (most
// providers deliver jane+x@ to jane@), and for Gmail without dots in the
// local part and with googlemail.com as gmail.com. A quoted local part is
// only lower-cased.
func mailbox(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || strings.HasPrefix(addr, `"`) {
		return addr
	}
	local, domain := addr[:at], addr[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		if l := strings.ReplaceAll(local, ".", ""); l != "" {
			local = l
		}
	}
	return local + "@" + domain
}
