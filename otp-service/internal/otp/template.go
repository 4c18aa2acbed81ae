package otp

import (
	"strconv"
	"strings"
)

// MaxSMSBytes is the SMS Retriever's limit on a whole message.
const MaxSMSBytes = 140

// Templates renders messages per channel and locale. SMS messages end with
// the optional Android app hash line and the WebOTP line "@host #code".
// The zero value is not usable; build one with NewTemplates.
type Templates struct {
	texts   map[string]string
	host    string
	appHash string
	minutes string
	subject string
}

// NewTemplates returns the templates of cfg.
func NewTemplates(cfg Config) *Templates {
	return &Templates{
		texts: cfg.Templates, host: cfg.WebOTPHost, appHash: cfg.AndroidAppHash,
		minutes: strconv.Itoa(int(cfg.TTL.Minutes())), subject: cfg.EmailSubject,
	}
}

// Render returns the message for channel in locale (falling back to "en").
func (t *Templates) Render(ch Channel, locale, code string) string {
	text, ok := t.texts[string(ch)+"."+strings.ToLower(locale)]
	if !ok {
		base, _, _ := strings.Cut(strings.ToLower(locale), "-")
		if text, ok = t.texts[string(ch)+"."+base]; !ok {
			text = t.texts[string(ch)+".en"]
		}
	}
	body := strings.NewReplacer("{code}", code, "{minutes}", t.minutes).Replace(text)
	if ch == Voice {
		// Spell digits apart so text-to-speech reads them one by one.
		body = strings.ReplaceAll(body, code, strings.Join(strings.Split(code, ""), " "))
	}
	if ch != SMS {
		return body
	}
	if t.appHash != "" {
		body += "\n" + t.appHash
	}
	return body + "\n@" + t.host + " #" + code
}

// Subject returns the email subject.
func (t *Templates) Subject() string { return t.subject }
