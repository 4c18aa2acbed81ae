package otp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/logging"
)

// Channel is how a code travels.
type Channel string

// Channels.
const (
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
	Voice    Channel = "voice"
	Email    Channel = "email"
)

func (c Channel) valid() bool { return c == SMS || c == WhatsApp || c == Voice || c == Email }

// Kinds of destination.
const (
	KindPhone = "phone"
	KindEmail = "email"
)

// Destination is a normalised phone (E.164) or email address.
type Destination struct {
	Kind    string
	Value   string // +919876543210 or jane@example.com
	Country string // region code of a phone (IN); "" for email
	Prefix  string // country code and the first national digits, for the breaker
	// FixedLine marks a phone that takes voice calls but not SMS or
	// WhatsApp.
	FixedLine bool
}

// Masked returns the destination fit for logs and the audit table.
func (d Destination) Masked() string {
	if d.Kind == KindEmail {
		return logging.MaskEmail(d.Value)
	}
	return logging.MaskPhone(d.Value)
}

// Error codes for refused destinations (all 400).
const (
	CodeInvalidPhone       = "invalid_phone"
	CodeCountryNotAllowed  = "country_not_allowed"
	CodeNumberNotAllowed   = "number_not_allowed"
	CodeInvalidEmail       = "invalid_email"
	CodeChannelUnavailable = "channel_unavailable"
)

func badRequest(code, field, msg string) *errs.Error {
	return &errs.Error{Code: code, Status: http.StatusBadRequest, Message: msg, Fields: map[string]string{field: msg}}
}

// ParsePhone normalises a phone number to E.164 with libphonenumber's rules
// and refuses numbers outside the allow-list, invalid or unallocated numbers,
// and premium-rate, shared-cost, UAN and other numbers that cannot receive
// codes. Numbers must be given in international form (+ and country code).
func ParsePhone(raw string, allowed []string, prefixDigits int) (Destination, error) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "+") || len(raw) > maxPhoneInput {
		return Destination{}, badRequest(CodeInvalidPhone, "phone", "phone must be in international format, e.g. +919876543210")
	}
	num, err := phonenumbers.Parse(raw, "")
	if err != nil {
		return Destination{}, badRequest(CodeInvalidPhone, "phone", "phone is not a valid phone number")
	}
	// A number is valid (allocated) exactly when libphonenumber finds its
	// type in its region's metadata: the type is computed once and serves
	// both checks.
	region := phonenumbers.GetRegionCodeForNumber(num)
	if region == "" || region == "ZZ" {
		return Destination{}, badRequest(CodeInvalidPhone, "phone", "phone is not an allocated number in its country")
	}
	typ := phonenumbers.GetNumberType(num)
	if typ == phonenumbers.UNKNOWN {
		return Destination{}, badRequest(CodeInvalidPhone, "phone", "phone is not an allocated number in its country")
	}
	if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, region) }) {
		return Destination{}, badRequest(CodeCountryNotAllowed, "phone", "codes cannot be sent to numbers in "+region)
	}
	switch typ {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE, phonenumbers.FIXED_LINE:
	case phonenumbers.PREMIUM_RATE:
		return Destination{}, badRequest(CodeNumberNotAllowed, "phone", "premium-rate numbers are refused")
	default:
		return Destination{}, badRequest(CodeNumberNotAllowed, "phone", "codes can only be sent to mobile or fixed-line numbers")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	ccDigits := len(strconv.Itoa(int(num.GetCountryCode())))
	prefix := e164[:min(len(e164), 1+ccDigits+prefixDigits)]
	return Destination{Kind: KindPhone, Value: e164, Country: region, Prefix: prefix, FixedLine: typ == phonenumbers.FIXED_LINE}, nil
}

// ParseEmail normalises an email address (lower case, no display name).
// Only ASCII addresses are accepted: an international domain must be given
// in its ASCII (xn--, punycode) form. Non-ASCII addresses are refused
// because Magento's case- and accent-insensitive collation (*_general_ci)
// would match a look-alike such as jane@gmáil.com to jane@gmail.com.
func ParseEmail(raw string) (Destination, error) {
	raw = strings.TrimSpace(raw)
	if !isASCII(raw) {
		return Destination{}, badRequest(CodeInvalidEmail, "email",
			"email must be written in ASCII characters only; give an international domain in its xn-- (punycode) form")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Address != raw || len(raw) > 254 || !strings.Contains(raw[strings.LastIndexByte(raw, '@'):], ".") {
		return Destination{}, badRequest(CodeInvalidEmail, "email", "email is not a valid address such as jane@example.com")
	}
	return Destination{Kind: KindEmail, Value: strings.ToLower(raw)}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NormalizeTestDestination parses a test number's key without the
// allow-list, so configuration can be checked.
func NormalizeTestDestination(s string) (string, error) {
	if strings.Contains(s, "@") {
		d, err := ParseEmail(s)
		return d.Value, err
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", errs.E(errs.Invalid, "not a valid E.164 number or email")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// fingerprint is a keyed, non-reversible tag of a destination's limit key
// (a phone's number, an email's mailbox): 9 bytes of HMAC-SHA256 in
// base64url (12 characters). Redis keys of one destination share it as
// their Cluster hash tag, and challenge ids start with it, so the variants
// of one mailbox share its per-destination limits and its one live
// challenge.
func fingerprint(key []byte, d Destination) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(d.Kind + ":" + d.limitKey()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

// maxPhoneInput is the longest phone input accepted, spaces and
// punctuation included.
const maxPhoneInput = 24

// phoneCacheSize bounds phoneCache (keys of at most maxPhoneInput bytes):
// about 10 MB at most.
const phoneCacheSize = 1 << 16

// phoneCache remembers numbers ParsePhone accepted, keyed by what the client
// sent: libphonenumber's parse and type lookup are the costliest part of a
// start, and returning shoppers send the same number again. Refused input
// is not kept, so junk cannot fill it. When full it starts over. The zero
// value is ready; it is safe for concurrent use.
type phoneCache struct {
	mu sync.Mutex
	m  map[string]Destination
}

func (c *phoneCache) parse(raw string, allowed []string, prefixDigits int) (Destination, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxPhoneInput {
		// Refused by ParsePhone too; checked first so long input is never
		// a key.
		return ParsePhone(raw, allowed, prefixDigits)
	}
	c.mu.Lock()
	d, ok := c.m[raw]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := ParsePhone(raw, allowed, prefixDigits)
	if err != nil {
		return d, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= phoneCacheSize {
		c.m = make(map[string]Destination, 1024)
	}
	c.m[raw] = d
	return d, nil
}
