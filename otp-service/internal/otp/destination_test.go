package otp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
)

// Rule 7: E.164 with libphonenumber rules, an allow-list, and no premium or
// unallocated numbers.
func TestParsePhone(t *testing.T) {
	allowed := []string{"IN", "US", "GB"}
	tests := []struct {
		in, want, code, country string
	}{
		{"+919876543210", "+919876543210", "", "IN"},
		{" +91 98765 43210 ", "+919876543210", "", "IN"},
		{"+1 (201) 555-0123", "+12015550123", "", "US"},
		{"+447400123456", "+447400123456", "", "GB"},
		{"9876543210", "", CodeInvalidPhone, ""},   // no country code
		{"+91123", "", CodeInvalidPhone, ""},       // too short
		{"+919999", "", CodeInvalidPhone, ""},      // unallocated
		{"+10000000000", "", CodeInvalidPhone, ""}, // invalid area code
		{"not a phone", "", CodeInvalidPhone, ""},
		{"+19005550123", "", CodeNumberNotAllowed, ""},  // US premium rate (900)
		{"+449098790000", "", CodeNumberNotAllowed, ""}, // UK premium rate (09)
		{"+33612345678", "", CodeCountryNotAllowed, ""}, // France not allowed
		{"+18005550123", "", CodeNumberNotAllowed, ""},  // toll free
	}
	// The service's cache must answer exactly as ParsePhone, on a miss and
	// on a hit, and keep only accepted numbers.
	var cache phoneCache
	parsers := []struct {
		name  string
		parse func(string, []string, int) (Destination, error)
	}{{"ParsePhone", ParsePhone}, {"phoneCache miss", cache.parse}, {"phoneCache hit", cache.parse}}
	for _, p := range parsers {
		for _, tt := range tests {
			d, err := p.parse(tt.in, allowed, 3)
			if tt.code != "" {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != tt.code || errs.Status(err) != 400 {
					t.Errorf("%s(%q) = %+v, %v; want 400 %s", p.name, tt.in, d, err, tt.code)
				}
				continue
			}
			if err != nil || d.Value != tt.want || d.Country != tt.country {
				t.Errorf("%s(%q) = %+v, %v; want %s in %s", p.name, tt.in, d, err, tt.want, tt.country)
			}
		}
	}
	if len(cache.m) != 4 {
		t.Errorf("phoneCache keeps %d numbers; want the 4 accepted ones", len(cache.m))
	}
	// Padding cannot grow the cache: input is trimmed before it is a key,
	// and input too long to be a phone is never one.
	var padded phoneCache
	for i := range 50 {
		if _, err := padded.parse("+919876543210"+strings.Repeat(" ", 1000*i), allowed, 3); err != nil {
			t.Fatalf("padded number %d refused: %v", i, err)
		}
	}
	if _, err := padded.parse("+91 98765 43210 "+strings.Repeat("1", 100), allowed, 3); err == nil {
		t.Error("an over-long number was accepted")
	}
	for k := range padded.m {
		if k != "+919876543210" {
			t.Errorf("phoneCache key %q (%d bytes); want only the trimmed number", k[:min(len(k), 30)], len(k))
		}
	}
	d, _ := ParsePhone("+919876543210", allowed, 3)
	if d.Prefix != "+91987" || d.FixedLine {
		t.Errorf("prefix = %q, fixed line %v; want +91987, mobile", d.Prefix, d.FixedLine)
	}
	if d, err := ParsePhone("+442079460000", allowed, 3); err != nil || !d.FixedLine {
		t.Errorf("London landline = %+v, %v; want a fixed line", d, err)
	}
}

func TestParseEmail(t *testing.T) {
	tests := []struct {
		in, want string // want "" for a refused address
	}{
		{"Jane.Doe@Example.com", "jane.doe@example.com"},
		{" jane@example.com ", "jane@example.com"},
		{"jane+shop@example.co.uk", "jane+shop@example.co.uk"},
		{"o'brien@example.com", "o'brien@example.com"},
		// An international domain in its ASCII (punycode) form.
		{"jane@xn--gmil-6na.com", "jane@xn--gmil-6na.com"},
		{"jane", ""},
		{"Jane <jane@example.com>", ""},
		{"jane@localhost", ""},
		{"@example.com", ""},
		{strings.Repeat("a", 250) + "@example.com", ""},
		// Look-alikes: Magento's *_general_ci collation matches them to
		// jane@gmail.com, so they must never reach it.
		{"jane@gmáil.com", ""},       // precomposed á (U+00E1)
		{"jane@gma\u0301il.com", ""}, // a + combining acute (U+0301)
		{"jane@gmаil.com", ""},       // Cyrillic а (U+0430)
		{"jáne@gmail.com", ""},       // non-ASCII local part
		{"jane@gmail.com\u200b", ""}, // zero-width space
		{"jane@ｇmail.com", ""},       // fullwidth ｇ
		{"jane@gmail.\u212aom", ""},  // Kelvin sign, folds to k
		{"\"jäne\"@gmail.com", ""},   // quoted non-ASCII local part
	}
	for _, tt := range tests {
		d, err := ParseEmail(tt.in)
		if tt.want == "" {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != CodeInvalidEmail || errs.Status(err) != 400 || e.Fields["email"] == "" {
				t.Errorf("ParseEmail(%q) = %+v, %v; want 400 %s on field email", tt.in, d, err, CodeInvalidEmail)
			}
			continue
		}
		if err != nil || d.Value != tt.want || d.Kind != KindEmail {
			t.Errorf("ParseEmail(%q) = %+v, %v; want %s", tt.in, d, err, tt.want)
		}
	}
	// The refusal says how to write an international address.
	_, err := ParseEmail("jane@gmáil.com")
	if e := errs.As(err); !strings.Contains(e.Message, "xn--") {
		t.Errorf("ParseEmail(non-ASCII) message %q; want a hint at the xn-- (punycode) form", e.Message)
	}
}

func validConfig() Config {
	c := DefaultConfig()
	c.HashKeys = map[string]config.Secret{"k1": config.Secret(strings.Repeat("s", 32))}
	c.ActiveHashKey = "k1"
	c.FingerprintKey = config.Secret(strings.Repeat("f", 32))
	return c
}

// Rules 1, 2, 5 and 13 in configuration: codes of 6 to 10 digits, lifetime
// at most 10 minutes, at most 5 attempts per challenge, SMS within 140
// bytes.
func TestConfigValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"5 digits", func(c *Config) { c.Digits = 5 }, "digits"},
		{"11 digits", func(c *Config) { c.Digits = 11 }, "digits"},
		{"ttl 11m", func(c *Config) { c.TTL = 11 * time.Minute }, "ttl"},
		{"6 attempts", func(c *Config) { c.MaxAttempts = 6 }, "max_attempts"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "max_attempts"},
		{"verify failures without a window", func(c *Config) { c.Limits.VerifyFailuresPerDest = Rate{Count: 30} }, "verify_failures_per_destination"},
		{"no hash keys", func(c *Config) { c.HashKeys = nil }, "hash_keys"},
		{"short key", func(c *Config) { c.HashKeys = map[string]config.Secret{"k1": "short"} }, "hash_keys"},
		{"unknown active key", func(c *Config) { c.ActiveHashKey = "k9" }, "active_hash_key"},
		{"long sms", func(c *Config) { c.Templates["sms.de"] = strings.Repeat("x", 120) + " {code}" }, "templates"},
		{"bad country", func(c *Config) { c.AllowedCountries = []string{"XX"} }, "allowed_countries"},
		{"guessable placeholder email", func(c *Config) { c.Identity.PhoneEmailTemplate = "{digits}@phone.example.com" }, "identity.phone_email_template"},
		{"bad test number", func(c *Config) {
			c.TestNumbers = map[string]TestNumber{"+919876543210": {Code: "12", Expires: "2030-01-01"}}
		}, "test_numbers"},
	}
	for _, tt := range tests {
		c := validConfig()
		tt.mod(&c)
		err := c.Validate()
		var p config.Problems
		if !errors.As(err, &p) || !strings.Contains(strings.Join(p.Keys(), ","), tt.key) {
			t.Errorf("%s: Validate() = %v; want a problem with %s", tt.name, err, tt.key)
		}
	}
}

func TestTemplates(t *testing.T) {
	c := validConfig()
	c.AndroidAppHash = "FA+9qCX9VSu"
	tpl := NewTemplates(c)
	sms := tpl.Render(SMS, "en", "123456")
	lines := strings.Split(sms, "\n")
	if lines[len(lines)-1] != "@secure.shop.example #123456" || lines[len(lines)-2] != "FA+9qCX9VSu" || len(sms) > MaxSMSBytes {
		t.Errorf("SMS = %q (%d bytes); want app hash then WebOTP line last, within 140 bytes", sms, len(sms))
	}
	if hi := tpl.Render(SMS, "hi-IN", "123456"); !strings.HasPrefix(hi, "123456 आपका") || len(hi) > MaxSMSBytes {
		t.Errorf("Hindi SMS = %q (%d bytes)", hi, len(hi))
	}
	if fr := tpl.Render(SMS, "fr", "123456"); !strings.HasPrefix(fr, "123456 is your login code") {
		t.Errorf("fallback = %q; want English", fr)
	}
	if v := tpl.Render(Voice, "en", "123456"); !strings.Contains(v, "1 2 3 4 5 6") {
		t.Errorf("voice = %q; want spaced digits", v)
	}
	if e := tpl.Render(Email, "en", "123456"); strings.Contains(e, "@secure") || !strings.Contains(e, "123456") {
		t.Errorf("email = %q", e)
	}
}
