package otp

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/magefleet/platform/internal/config"
)

// Config configures codes, limits, phone rules, the pumping breaker, test
// numbers and identity policy. It is the "otp" section of otp-service's
// configuration; every key is snake_case.
type Config struct {
	// Digits is the code length, 6 to 10.
	Digits int `mapstructure:"digits" desc:"number of digits in a code, 6 to 10"`
	// TTL is a code's lifetime, at most 10 minutes.
	TTL time.Duration `mapstructure:"ttl" desc:"how long a code stays valid, 30s to 10m"`
	// MaxAttempts is the number of codes a challenge accepts before it dies,
	// at most 5 (shared/reference/otp.md, rule 5: verifies per challenge
	// are limited to 5).
	MaxAttempts int `mapstructure:"max_attempts" desc:"verification attempts a challenge accepts (1 to 5) before it is deleted and a new code is needed"`
	// ResendAfter is the gap a destination must wait between two starts.
	ResendAfter time.Duration `mapstructure:"resend_after" desc:"minimum wait before another code can be sent to the same destination, 0 to ttl; 0 disables"`
	// HashKeys maps a key id to an HMAC secret (at least 32 bytes). Codes are
	// stored as HMAC-SHA256(key, challenge id + code) with the key id beside
	// the hash, so a key can rotate: add the new one, make it active, remove
	// the old one after TTL.
	HashKeys map[string]config.Secret `mapstructure:"hash_keys" desc:"map of key id (1 to 32 of a-z 0-9 _ -) to an HMAC secret of at least 32 bytes; codes are stored as HMAC-SHA256 under the active key, older keys still verify codes during rotation"`
	// ActiveHashKey names the key new codes are hashed with.
	ActiveHashKey string `mapstructure:"active_hash_key" desc:"id of the hash_keys entry that new codes are hashed with"`
	// FingerprintKey keys the HMAC that turns a phone or email into the
	// opaque tag naming its Redis keys and prefixing its challenge ids.
	FingerprintKey config.Secret `mapstructure:"fingerprint_key" desc:"HMAC secret (at least 32 bytes) that turns a phone or email into the opaque tag naming its Redis keys and challenge ids"`
	// AllowedCountries lists ISO 3166 region codes (IN, US, ...) phones may
	// belong to; empty allows none.
	AllowedCountries []string `mapstructure:"allowed_countries" desc:"ISO 3166 region codes (IN, US, ...) that phone numbers may belong to; empty allows no phones"`
	// Channels lists the channels offered: sms, whatsapp, voice, email.
	Channels []string `mapstructure:"channels" desc:"delivery channels offered, any of sms, whatsapp, voice, email"`
	// WebOTPHost is the origin host put on the SMS's last line
	// ("@host #code") for WebOTP autofill.
	WebOTPHost string `mapstructure:"webotp_host" desc:"bare host of the login page, appended to SMS as the WebOTP line @host #code for autofill"`
	// AndroidAppHash is the 11-character SMS Retriever hash; empty omits it.
	AndroidAppHash string `mapstructure:"android_app_hash" desc:"11-character Android SMS Retriever app hash added to SMS; empty omits it"`
	// Templates maps "<channel>.<locale>" (sms.en, email.hi, ...) to a text
	// with {code} and {minutes} placeholders; "<channel>.en" is the fallback.
	Templates map[string]string `mapstructure:"templates" desc:"map of <channel>.<locale> (sms.en, email.hi, ...) to the message text with {code} and {minutes} placeholders; each offered channel needs a <channel>.en fallback"`
	// EmailSubject is the subject of code emails.
	EmailSubject string  `mapstructure:"email_subject" desc:"subject line of code emails"`
	Limits       Limits  `mapstructure:"limits" desc:"send and verify rate limits"`
	Breaker      Breaker `mapstructure:"breaker" desc:"SMS pumping breaker: pauses sending to a country or number prefix whose codes are rarely verified"`
	// TestNumbers maps a phone (E.164) or email to a fixed code and the date
	// after which it stops working, for QA and app-store review. Nothing is
	// sent to them.
	TestNumbers map[string]TestNumber `mapstructure:"test_numbers" desc:"map of a phone (E.164) or email to a fixed code with keys code (as many digits as otp.digits) and expires (date 2006-01-02, UTC); nothing is sent to them, for QA and app-store review"`
	Identity    IdentityPolicy        `mapstructure:"identity" desc:"how verified destinations become Magento customers"`
	// Sandbox keeps sent messages readable at GET /v1/sandbox/messages; it is
	// refused outside env development.
	Sandbox bool `mapstructure:"sandbox" desc:"keep sent messages readable at GET /v1/sandbox/messages; only allowed with env development"`
}

// TestNumber is a destination with a fixed code.
type TestNumber struct {
	Code string `mapstructure:"code" desc:"fixed code accepted for this destination, as many digits as otp.digits"`
	// Expires is a date (2006-01-02, UTC) after which the number is refused.
	Expires string `mapstructure:"expires" desc:"date (2006-01-02, UTC) after which this test number is refused"`
}

// Limits caps sends and verifies. Each Rate is count per window; a zero
// count disables that limit.
type Limits struct {
	SendsPerDestination Rate `mapstructure:"sends_per_destination" desc:"codes sent to one phone or email per window"`
	SendsPerIP          Rate `mapstructure:"sends_per_ip" desc:"codes requested from one client IP per window"`
	SendsPerDevice      Rate `mapstructure:"sends_per_device" desc:"codes requested with one client_id per window"`
	SendsPerCountry     Rate `mapstructure:"sends_per_country" desc:"codes sent to one country (emails count as country email) per window"`
	SendsGlobal         Rate `mapstructure:"sends_global" desc:"codes sent in total per window"`
	VerifiesPerDest     Rate `mapstructure:"verifies_per_destination" desc:"verify attempts on one phone or email (its current challenge) per window"`
	VerifiesPerIP       Rate `mapstructure:"verifies_per_ip" desc:"verify attempts from one client IP per window"`
	// VerifyFailuresPerDest caps the codes compared and found wrong for one
	// destination over a long window, across its challenges: a resend
	// gives a new challenge fresh attempts, so without it guessing is bound
	// only by VerifiesPerDest (2,160 guesses a day at 15 per 10 minutes).
	// A successful verify starts the count again. The default, 100 a day,
	// is NIST SP 800-63B's cap on consecutive failures (a 0.01 % chance a
	// day against 6 digits); lower it and anyone holding the number's
	// challenges (any start) locks its logins sooner: at the default send
	// and verify limits reaching 100 takes over an hour of effort.
	VerifyFailuresPerDest Rate `mapstructure:"verify_failures_per_destination" desc:"wrong codes for one phone or email per window, across its challenges and resends; a successful verify resets the count; when spent, verifies answer 429 until the window closes"`
	// DailyBudget caps sends per country per UTC day; DailyBudgetByCountry
	// overrides it for a country (keys are region codes, lower-cased by the
	// loader).
	DailyBudget          int            `mapstructure:"daily_budget" desc:"maximum codes sent per country per UTC day (emails count as country email); 0 disables"`
	DailyBudgetByCountry map[string]int `mapstructure:"daily_budget_by_country" desc:"map of region code (or email) to a daily send budget overriding daily_budget for that country"`
}

// Rate is count events per window.
type Rate struct {
	Count  int           `mapstructure:"count" desc:"maximum events per window; 0 disables this limit"`
	Window time.Duration `mapstructure:"window" desc:"length of the fixed window counted from its first event; at least 1s"`
}

// Breaker configures the SMS pumping breaker: per country and per number
// prefix, when at least MinSent codes were sent in Window and fewer than
// MinRatio of them were verified, sending there pauses for Pause.
type Breaker struct {
	Window  time.Duration `mapstructure:"window" desc:"period over which sent and verified codes are counted per country and number prefix; at least 1m"`
	Buckets int           `mapstructure:"buckets" desc:"number of time buckets the breaker window is split into (1 to 120); more gives a smoother sliding window"`
	MinSent int           `mapstructure:"min_sent" desc:"codes that must have been sent in the window to a scope before the breaker can trip"`
	// MinRatio is the verified/sent ratio below which the breaker trips.
	MinRatio float64       `mapstructure:"min_ratio" desc:"verified-to-sent ratio of codes in the window below which the breaker trips (once min_sent codes were sent), 0 to under 1"`
	Pause    time.Duration `mapstructure:"pause" desc:"how long sending to a tripped country or prefix stays paused"`
	// PrefixDigits is how many digits after the country code make a prefix.
	PrefixDigits int `mapstructure:"prefix_digits" desc:"digits after the country code that form the number prefix the breaker watches, 0 to 6"`
}

// IdentityPolicy configures how verified destinations become Magento customers.
type IdentityPolicy struct {
	// PhoneEmailTemplate builds the email of a customer who signs up with a
	// phone only: {digits} is the E.164 number without '+', {random} 8
	// random characters, so nobody can pre-register the address. Use a
	// domain you own.
	PhoneEmailTemplate string `mapstructure:"phone_email_template" desc:"email given to a customer who signs up with a phone only; {digits} is the E.164 number without +, {random} 8 random characters; use a domain you own"`
	FirstName          string `mapstructure:"first_name" desc:"first name given to Magento customers created at sign-up"`
	LastName           string `mapstructure:"last_name" desc:"last name given to Magento customers created at sign-up"`
	WebsiteID          int    `mapstructure:"website_id" desc:"Magento website id new customers are created in"`
}

// DefaultConfig returns the defaults: 6 digits, 5 minutes, 5 attempts,
// Twilio Verify-like send limits.
func DefaultConfig() Config {
	return Config{
		Digits:           6,
		TTL:              5 * time.Minute,
		MaxAttempts:      5,
		ResendAfter:      60 * time.Second,
		AllowedCountries: []string{"IN", "US", "GB", "AE", "SG"},
		Channels:         []string{"sms", "whatsapp", "voice", "email"},
		WebOTPHost:       "secure.shop.example",
		Templates: map[string]string{
			"sms.en":      "{code} is your login code. It expires in {minutes} min. Don't share it.",
			"sms.hi":      "{code} आपका लॉगिन कोड है। साझा न करें।",
			"whatsapp.en": "{code} is your login code. It expires in {minutes} minutes. Don't share it with anyone.",
			"voice.en":    "Your login code is {code}. Again, your code is {code}.",
			"email.en":    "Your login code is {code}.\n\nIt expires in {minutes} minutes. If you did not ask for it, ignore this email.",
		},
		EmailSubject: "Your login code",
		Limits: Limits{
			SendsPerDestination: Rate{5, 10 * time.Minute},
			SendsPerIP:          Rate{20, time.Hour},
			SendsPerDevice:      Rate{10, time.Hour},
			SendsPerCountry:     Rate{2000, time.Minute},
			SendsGlobal:         Rate{10000, time.Minute},
			VerifiesPerDest:     Rate{15, 10 * time.Minute},
			VerifiesPerIP:       Rate{60, 10 * time.Minute},
			// 100 a day: at most 0.01 % of 6-digit codes.
			VerifyFailuresPerDest: Rate{100, 24 * time.Hour},
			DailyBudget:           200000,
		},
		Breaker: Breaker{Window: 15 * time.Minute, Buckets: 15, MinSent: 200, MinRatio: 0.2, Pause: 30 * time.Minute, PrefixDigits: 3},
		Identity: IdentityPolicy{
			PhoneEmailTemplate: "{digits}.{random}@phone.shop.example",
			FirstName:          "Shopper",
			LastName:           "Customer",
			WebsiteID:          1,
		},
	}
}

// MaxAttemptsLimit is the most verification attempts a challenge may
// accept (otp.md rule 5, as Twilio Verify and Ory Kratos do).
const MaxAttemptsLimit = 5

var keyIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Validate reports every bad key.
func (c Config) Validate() error {
	var p config.Problems
	if c.Digits < 6 || c.Digits > 10 {
		p.Add("digits", "must be between 6 and 10, got %d", c.Digits)
	}
	if c.TTL < 30*time.Second || c.TTL > 10*time.Minute {
		p.Add("ttl", "must be between 30s and 10m, got %s", c.TTL)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxAttemptsLimit {
		p.Add("max_attempts", "must be between 1 and %d (the security rules allow at most %d verifies per challenge), got %d",
			MaxAttemptsLimit, MaxAttemptsLimit, c.MaxAttempts)
	}
	if c.ResendAfter < 0 || c.ResendAfter > c.TTL {
		p.Add("resend_after", "must be between 0 and ttl, got %s", c.ResendAfter)
	}
	if len(c.HashKeys) == 0 {
		p.Add("hash_keys", "must hold at least one key id: secret pair (32 bytes or more)")
	}
	for id, k := range c.HashKeys {
		if !keyIDPattern.MatchString(id) {
			p.Add("hash_keys", "key id %q must match %s", id, keyIDPattern)
		}
		if len(k.Reveal()) < 32 {
			p.Add("hash_keys", "key %q must be at least 32 bytes", id)
		}
	}
	if _, ok := c.HashKeys[c.ActiveHashKey]; !ok {
		p.Add("active_hash_key", "must name one of hash_keys, got %q", c.ActiveHashKey)
	}
	if len(c.FingerprintKey.Reveal()) < 32 {
		p.Add("fingerprint_key", "must be at least 32 bytes")
	}
	for _, cc := range c.AllowedCountries {
		if _, ok := phonenumbers.GetSupportedRegions()[strings.ToUpper(cc)]; !ok {
			p.Add("allowed_countries", "%q is not a region code libphonenumber knows", cc)
		}
	}
	if len(c.Channels) == 0 {
		p.Add("channels", "must list at least one of sms, whatsapp, voice, email")
	}
	for _, ch := range c.Channels {
		if !Channel(ch).valid() {
			p.Add("channels", "%q is not sms, whatsapp, voice or email", ch)
		}
	}
	if c.WebOTPHost == "" || strings.ContainsAny(c.WebOTPHost, " /#@:") {
		p.Add("webotp_host", "must be the bare origin host of the login page, got %q", c.WebOTPHost)
	}
	if c.AndroidAppHash != "" && len(c.AndroidAppHash) != 11 {
		p.Add("android_app_hash", "must be 11 characters, got %d", len(c.AndroidAppHash))
	}
	for _, ch := range c.Channels {
		if _, ok := c.Templates[ch+".en"]; !ok {
			p.Add("templates", "needs a %s.en fallback", ch)
		}
	}
	tpl := NewTemplates(c)
	for name, t := range c.Templates {
		if !strings.Contains(t, "{code}") {
			p.Add("templates", "%s must contain {code}", name)
		}
		ch, locale, _ := strings.Cut(name, ".")
		if Channel(ch) == SMS {
			body := tpl.Render(SMS, locale, strings.Repeat("9", c.Digits))
			if len(body) > MaxSMSBytes {
				p.Add("templates", "%s renders to %d bytes with the WebOTP and app hash lines; SMS Retriever allows %d", name, len(body), MaxSMSBytes)
			}
		}
	}
	p.Merge("limits", c.Limits.Validate())
	p.Merge("breaker", c.Breaker.Validate())
	for dest, tn := range c.TestNumbers {
		if len(tn.Code) != c.Digits || strings.Trim(tn.Code, "0123456789") != "" {
			p.Add("test_numbers", "%s: code must be %d digits", dest, c.Digits)
		}
		if _, err := time.Parse(time.DateOnly, tn.Expires); err != nil {
			p.Add("test_numbers", "%s: expires must be a date such as 2027-01-31", dest)
		}
		if _, err := NormalizeTestDestination(dest); err != nil {
			p.Add("test_numbers", "%s: %v", dest, err)
		}
	}
	it := c.Identity.PhoneEmailTemplate
	if !strings.Contains(it, "{digits}") || !strings.Contains(it, "{random}") {
		p.Add("identity.phone_email_template", "must contain {digits} and {random}, got %q", it)
	} else if _, err := mail.ParseAddress(strings.NewReplacer("{digits}", "919876543210", "{random}", "abcdefgh").Replace(it)); err != nil {
		p.Add("identity.phone_email_template", "must give an email address: %v", err)
	}
	if c.Identity.FirstName == "" || c.Identity.LastName == "" {
		p.Add("identity", "first_name and last_name must be set (Magento requires them)")
	}
	return p.Err()
}

// Validate reports bad limits.
func (l Limits) Validate() error {
	var p config.Problems
	for name, r := range map[string]Rate{
		"sends_per_destination": l.SendsPerDestination, "sends_per_ip": l.SendsPerIP,
		"sends_per_device": l.SendsPerDevice, "sends_per_country": l.SendsPerCountry,
		"sends_global": l.SendsGlobal, "verifies_per_destination": l.VerifiesPerDest,
		"verifies_per_ip": l.VerifiesPerIP, "verify_failures_per_destination": l.VerifyFailuresPerDest,
	} {
		if r.Count < 0 || (r.Count > 0 && r.Window < time.Second) {
			p.Add(name, "count must be >= 0 and window at least 1s, got %d per %s", r.Count, r.Window)
		}
	}
	if l.DailyBudget < 0 {
		p.Add("daily_budget", "must not be negative")
	}
	return p.Err()
}

// Validate reports bad breaker settings.
func (b Breaker) Validate() error {
	var p config.Problems
	if b.Window < time.Minute {
		p.Add("window", "must be at least 1m, got %s", b.Window)
	}
	if b.Buckets < 1 || b.Buckets > 120 {
		p.Add("buckets", "must be between 1 and 120, got %d", b.Buckets)
	}
	if b.MinRatio < 0 || b.MinRatio >= 1 {
		p.Add("min_ratio", "must be in [0, 1), got %v", b.MinRatio)
	}
	if b.MinSent < 1 {
		p.Add("min_sent", "must be at least 1")
	}
	if b.Pause <= 0 {
		p.Add("pause", "must be positive")
	}
	if b.PrefixDigits < 0 || b.PrefixDigits > 6 {
		p.Add("prefix_digits", "must be between 0 and 6")
	}
	return p.Err()
}

// verifyFailures is the limit of wrong codes for the destination of
// challengeID (see Limits.VerifyFailuresPerDest).
func (l Limits) verifyFailures(challengeID string) Limit {
	r := l.VerifyFailuresPerDest
	return Limit{Name: "verify_failures_per_destination", Subject: ChallengeTag(challengeID), Count: r.Count, Window: r.Window}
}

func (r Rate) String() string { return fmt.Sprintf("%d per %s", r.Count, r.Window) }
