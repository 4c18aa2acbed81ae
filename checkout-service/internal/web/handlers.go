package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/logging"
)

var (
	errForeign = errs.E(errs.Forbidden, "This checkout was started in another browser. For your security it can only be continued there; start again from your cart.")
	errStale   = &errs.Error{Code: "csrf_stale", Status: http.StatusForbidden,
		Message: "This form was out of date, so nothing was sent. Please review the page and submit it again."}
	errCrossOrigin = &errs.Error{Code: "cross_origin", Status: http.StatusForbidden,
		Message: "This form was sent from another site and was refused."}
)

// validID accepts the checkout domain's session and payment ids.
func validID(id string) bool {
	if len(id) < 4 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// validMaskedID accepts Magento's masked cart ids (32 characters of [a-zA-Z0-9]).
func validMaskedID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// browserSecret returns the browser's cookie secret, creating and setting
// one when absent.
func (p *Pages) browserSecret(c *gin.Context) string {
	if v, err := c.Cookie(p.cookieName); err == nil && len(v) >= 32 && len(v) <= 64 {
		return v
	}
	v := token(32)
	http.SetCookie(c.Writer, &http.Cookie{Name: p.cookieName, Value: v, Path: "/", HttpOnly: true,
		Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: int((24 * time.Hour).Seconds())})
	return v
}

func (p *Pages) ttl(sess *checkout.Session) time.Duration { return sess.ExpiresAt.Sub(p.now()) }

// start is the handoff from Magento: it opens a session on the guest cart
// named by ?cart= and sends the browser to it.
func (p *Pages) start(c *gin.Context) error {
	masked := c.Query("cart")
	if isQuoteID(masked) {
		// A logged-in customer's numeric quote id proves nothing: log in by code.
		return p.loginPage(c)
	}
	if !validMaskedID(masked) {
		return errs.E(errs.Invalid, "This checkout link is incomplete. Please go back to your cart and choose Checkout again.")
	}
	ctx := c.Request.Context()
	sess, err := p.sessions.StartSession(ctx, checkout.StartParams{MaskedCartID: masked, Channel: "web"})
	if err != nil {
		switch errs.Code(err) {
		case errs.NotFound:
			return errs.E(errs.NotFound, "We couldn't find this cart. It may have been ordered already or expired; please return to the store.")
		case errs.Unprocessable:
			return errs.E(errs.Unprocessable, "Your cart is empty. Add something in the store first.")
		}
		return err
	}
	secret := p.browserSecret(c)
	st := &pageState{BrowserHash: hashSecret(secret), CSRF: token(24), AttemptKey: "web_" + token(18)}
	if err := p.states.save(ctx, sess.ID, st, p.ttl(sess)); err != nil {
		return err
	}
	logging.From(ctx, p.log).Info("checkout started", zap.String("session_id", sess.ID),
		zap.String("cart", logging.Fingerprint(masked)))
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/details")
	return nil
}

func isQuoteID(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (p *Pages) loginEnabled() bool { return p.tokens != nil && p.cfg.AuthPath != "" }

// loginToken binds the customer login form, which has no session yet, to
// the browser's secret.
func (p *Pages) loginToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("checkout-login"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Pages) loginPage(c *gin.Context) error {
	if !p.loginEnabled() {
		return errs.E(errs.Unprocessable, "Secure checkout for signed-in customers needs login by code, which is not available right now. Please sign out and check out as a guest, or try again later.")
	}
	secret := p.browserSecret(c)
	return p.render(c, http.StatusOK, "login", &view{Title: "Log in to pay securely", Step: "login",
		Action: "/checkout/login", CSRF: p.loginToken(secret), Auth: p.cfg.AuthPath})
}

// loginCustomer starts a session on the Magento cart of a customer who
// just logged in by code on the login page.
func (p *Pages) loginCustomer(c *gin.Context) error {
	if !p.loginEnabled() {
		return errs.E(errs.NotFound, "Login by code is not available.")
	}
	if o := c.GetHeader("Origin"); o != "" && o != p.origin {
		return errCrossOrigin
	}
	secret, _ := c.Cookie(p.cookieName)
	if secret == "" || !equal(c.PostForm("csrf"), p.loginToken(secret)) {
		return errStale
	}
	ctx := c.Request.Context()
	claims, err := p.tokens.Verify(ctx, c.PostForm("access_token"))
	if err != nil {
		return errs.E(errs.Unauthorized, "Your login has expired. Please log in again.")
	}
	ref := &checkout.CartRef{Kind: checkout.KindCustomer, CustomerID: claims.MagentoCustomerID,
		CustomerToken: c.PostForm("magento_customer_token")}
	if ref.CustomerID == 0 && ref.CustomerToken == "" {
		return errs.E(errs.Unprocessable, "We couldn't find your store account. Please check out from the store again.")
	}
	sess, err := p.sessions.StartSession(ctx, checkout.StartParams{Customer: ref, Subject: claims.Subject, Channel: "web"})
	if err != nil {
		if errs.Is(err, errs.Unprocessable) {
			return errs.E(errs.Unprocessable, "Your cart is empty. Add something in the store first.")
		}
		return err
	}
	st := &pageState{BrowserHash: hashSecret(secret), CSRF: token(24), AttemptKey: "web_" + token(18), Subject: claims.Subject}
	if err := p.states.save(ctx, sess.ID, st, p.ttl(sess)); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/details")
	return nil
}

// loginGuest records that a guest logged in by code on the details page.
// The guest cart stays the session's cart; the page itself fills the
// contact fields from the login's answer.
func (p *Pages) loginGuest(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := p.verifyPost(c, st); err != nil {
		return err
	}
	if !p.loginEnabled() {
		return errs.E(errs.NotFound, "Login by code is not available.")
	}
	claims, err := p.tokens.Verify(c.Request.Context(), c.PostForm("access_token"))
	if err != nil {
		return p.redirectWith(c, sess, st, &flash{Error: "That login didn't work. Please try again, or continue as a guest."}, "/checkout/s/"+sess.ID+"/details")
	}
	if sess.Subject != "" && sess.Subject != claims.Subject {
		return errForeign
	}
	st.Subject = claims.Subject
	st.CSRF = token(24) // a privilege change: forms from before are stale
	// The identity's contact, as otp-service returned it to the page, only
	// pre-fills the form the shopper still checks and submits.
	form := map[string]string{}
	for _, k := range []string{"email", "phone"} {
		if v := strings.TrimSpace(c.PostForm(k)); v != "" && len(v) <= 255 {
			form[k] = v
		}
	}
	return p.redirectWith(c, sess, st, &flash{Notice: "You're logged in. Your cart is unchanged; check your details below.", Form: form},
		"/checkout/s/"+sess.ID+"/details")
}

// leave redirects to the store, only to an allow-listed origin.
func (p *Pages) leave(c *gin.Context) error {
	to := c.Query("to")
	if !p.allowedReturn(to) {
		return errs.E(errs.Invalid, "That link leads outside the store, so we didn't follow it.")
	}
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

// allowedReturn reports whether to is an absolute URL on an allow-listed
// origin (no relative, protocol-relative, userinfo or other-scheme tricks).
func (p *Pages) allowedReturn(to string) bool {
	if to == "" || strings.ContainsAny(to, "\\\r\n\t ") {
		return false
	}
	o := origin(to)
	return o != "" && slices.Contains(p.cfg.AllowedReturnOrigins, o)
}

// bound loads the session and its page state, refusing another browser.
func (p *Pages) bound(c *gin.Context, id string) (*checkout.Session, *pageState, error) {
	if !validID(id) {
		return nil, nil, errs.E(errs.NotFound, "We couldn't find that checkout.")
	}
	ctx := c.Request.Context()
	st, err := p.states.load(ctx, id)
	if errs.Is(err, errs.NotFound) {
		return nil, nil, errForeign
	}
	if err != nil {
		return nil, nil, err
	}
	cookie, _ := c.Cookie(p.cookieName)
	if !equal(hashSecret(cookie), st.BrowserHash) {
		return nil, nil, errForeign
	}
	sess, err := p.sessions.Session(ctx, id, st.Subject)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.Gone, "This checkout has expired. Your cart is still in the store; choose Checkout there to start again.")
		}
		return nil, nil, err
	}
	return sess, st, nil
}

// verifyPost checks a form post's origin and CSRF token.
func (p *Pages) verifyPost(c *gin.Context, st *pageState) error {
	if o := c.GetHeader("Origin"); o != "" && o != p.origin {
		return errCrossOrigin
	}
	if s := c.GetHeader("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return errCrossOrigin
	}
	if !equal(c.PostForm("csrf"), st.CSRF) {
		return errStale
	}
	return nil
}

// takeFlash removes the state's flash and saves the state.
func (p *Pages) takeFlash(ctx context.Context, id string, sess *checkout.Session, st *pageState) *flash {
	f := st.Flash
	if f == nil {
		return nil
	}
	st.Flash = nil
	if err := p.states.save(ctx, id, st, p.ttl(sess)); err != nil {
		p.log.Warn("page state not saved", zap.String("session_id", id), zap.Error(err))
	}
	return f
}

// redirectWith saves a flash and redirects (post/redirect/get).
func (p *Pages) redirectWith(c *gin.Context, sess *checkout.Session, st *pageState, f *flash, to string) error {
	st.Flash = f
	if err := p.states.save(c.Request.Context(), sess.ID, st, p.ttl(sess)); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

// next returns the step a session should show.
func next(sess *checkout.Session, st *pageState) string {
	switch {
	case sess.Status == checkout.SessionPaid:
		return "done"
	case sess.Email == "" || !sess.IsVirtual && sess.ShippingAddress == nil:
		return "details"
	case !sess.IsVirtual && sess.CarrierCode == "":
		return "shipping"
	}
	return "payment"
}

func (p *Pages) current(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/"+next(sess, st))
	return nil
}

func (p *Pages) paidRedirect(c *gin.Context, sess *checkout.Session) bool {
	if sess.Status == checkout.SessionPaid {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/done")
		return true
	}
	return false
}

var addressFields = []string{"email", "phone", "firstname", "lastname", "street1", "street2", "city", "region", "postcode", "country"}

func (p *Pages) details(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if p.paidRedirect(c, sess) {
		return nil
	}
	v := &view{Title: "Your details", Step: "details", Steps: steps(sess.ID, "details", sess),
		Summary: p.summary(sess.Items, sess.Totals, sess.CarrierCode != ""), Action: "/checkout/s/" + sess.ID + "/details", CSRF: st.CSRF,
		LoggedIn: st.Subject != ""}
	if p.loginEnabled() && st.Subject == "" {
		v.Auth = p.cfg.AuthPath
	}
	form := map[string]string{"email": sess.Email, "phone": sess.Phone, "country": p.cfg.DefaultCountry}
	if a := sess.ShippingAddress; a != nil {
		form["firstname"], form["lastname"], form["city"], form["postcode"] = a.Firstname, a.Lastname, a.City, a.Postcode
		form["region"], form["country"] = firstOf(a.RegionCode, a.Region), a.CountryID
		if len(a.Street) > 0 {
			form["street1"] = a.Street[0]
		}
		if len(a.Street) > 1 {
			form["street2"] = a.Street[1]
		}
	}
	if f := p.takeFlash(c.Request.Context(), sess.ID, sess, st); f != nil {
		v.Error, v.Notice, v.Fields = f.Error, f.Notice, f.Fields
		for k, val := range f.Form {
			form[k] = val
		}
	}
	v.Form, v.Countries = form, countryOptions(form["country"])
	return p.render(c, http.StatusOK, "details", v)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *Pages) saveDetails(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := p.verifyPost(c, st); err != nil {
		return err
	}
	if p.paidRedirect(c, sess) {
		return nil
	}
	form := map[string]string{}
	for _, f := range addressFields {
		form[f] = strings.TrimSpace(c.PostForm(f))
	}
	fields := validateDetails(form)
	back := "/checkout/s/" + sess.ID + "/details"
	if len(fields) > 0 {
		return p.redirectWith(c, sess, st, &flash{Error: "Please check the highlighted fields.", Fields: fields, Form: form}, back)
	}
	addr := checkout.Address{Firstname: form["firstname"], Lastname: form["lastname"], City: form["city"],
		Postcode: form["postcode"], CountryID: form["country"], Telephone: form["phone"], Email: form["email"],
		Street: []string{form["street1"]}}
	if form["street2"] != "" {
		addr.Street = append(addr.Street, form["street2"])
	}
	if r := form["region"]; r != "" {
		addr.Region = r
		if len(r) <= 3 {
			addr.RegionCode = strings.ToUpper(r)
		}
	}
	_, err = p.sessions.SetAddress(c.Request.Context(), sess.ID, st.Subject, checkout.AddressParams{
		Email: form["email"], Phone: form["phone"], ShippingAddress: addr})
	if err != nil {
		e := errs.As(err)
		if e.Code == errs.Invalid || e.Code == errs.Unprocessable {
			return p.redirectWith(c, sess, st, &flash{Error: e.Message, Fields: e.Fields, Form: form}, back)
		}
		return err
	}
	to := "/checkout/s/" + sess.ID + "/shipping"
	if sess.IsVirtual {
		to = "/checkout/s/" + sess.ID + "/payment"
	}
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

// validateDetails returns field problems in words a shopper can act on.
func validateDetails(f map[string]string) map[string]string {
	out := map[string]string{}
	if a, err := mail.ParseAddress(f["email"]); err != nil || a.Address != f["email"] || !strings.Contains(f["email"], ".") {
		out["email"] = "Enter an email address like name@example.com."
	}
	digits := 0
	for _, r := range f["phone"] {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-() .", r):
		default:
			digits = -100
		}
	}
	if digits < 6 || digits > 15 {
		out["phone"] = "Enter a phone number, with the country code if you are abroad (for example +1 555 010 0199)."
	}
	for name, label := range map[string]string{"firstname": "first name", "lastname": "last name", "street1": "street address", "city": "town or city", "postcode": "postcode or ZIP"} {
		if f[name] == "" {
			out[name] = "Enter your " + label + "."
		}
	}
	for name, v := range f {
		if len(v) > 255 {
			out[name] = "This is too long."
		}
	}
	if !slices.ContainsFunc(countries, func(o option) bool { return o.Value == f["country"] }) {
		out["country"] = "Choose a country we deliver to."
	}
	return out
}

func (p *Pages) shipping(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if p.paidRedirect(c, sess) {
		return nil
	}
	if sess.ShippingAddress == nil || sess.Email == "" {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/details")
		return nil
	}
	v := &view{Title: "Shipping method", Step: "shipping", Steps: steps(sess.ID, "shipping", sess),
		Summary: p.summary(sess.Items, sess.Totals, sess.CarrierCode != ""), Action: "/checkout/s/" + sess.ID + "/shipping", CSRF: st.CSRF}
	if f := p.takeFlash(c.Request.Context(), sess.ID, sess, st); f != nil {
		v.Error, v.Notice, v.Fields = f.Error, f.Notice, f.Fields
	}
	any := false
	for _, m := range sess.ShippingMethods {
		mv := methodView{Value: m.CarrierCode + "|" + m.MethodCode, Label: strings.TrimSpace(m.CarrierTitle + " — " + m.MethodTitle),
			Amount: p.money.Format(m.Amount, firstOf(m.Currency, sess.Totals.Currency)), Available: m.Available, Error: m.ErrorMessage,
			Selected: m.CarrierCode == sess.CarrierCode && m.MethodCode == sess.MethodCode}
		if m.Amount == 0 {
			mv.Amount = "Free"
		}
		any = any || m.Available
		v.Methods = append(v.Methods, mv)
	}
	if !slices.ContainsFunc(v.Methods, func(m methodView) bool { return m.Selected }) {
		for i := range v.Methods {
			if v.Methods[i].Available {
				v.Methods[i].Selected = true
				break
			}
		}
	}
	if !any && v.Error == "" {
		v.Error = "We can't deliver to this address. Please check it or use another address."
	}
	return p.render(c, http.StatusOK, "shipping", v)
}

func (p *Pages) saveShipping(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := p.verifyPost(c, st); err != nil {
		return err
	}
	if p.paidRedirect(c, sess) {
		return nil
	}
	carrier, method, ok := strings.Cut(c.PostForm("method"), "|")
	back := "/checkout/s/" + sess.ID + "/shipping"
	if !ok {
		return p.redirectWith(c, sess, st, &flash{Error: "Choose a shipping method.", Fields: map[string]string{"method": "Choose a shipping method."}}, back)
	}
	if _, err := p.sessions.SetShippingMethod(c.Request.Context(), sess.ID, st.Subject, carrier, method); err != nil {
		e := errs.As(err)
		if e.Code == errs.Invalid || e.Code == errs.Unprocessable {
			return p.redirectWith(c, sess, st, &flash{Error: "That shipping method isn't available for your address. Please choose another."}, back)
		}
		return err
	}
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/payment")
	return nil
}

func (p *Pages) payment(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	if to := next(sess, st); to != "payment" {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/"+to)
		return nil
	}
	v := &view{Title: "Payment", Step: "payment", Steps: steps(sess.ID, "payment", sess),
		Action: "/checkout/s/" + sess.ID + "/payment", CSRF: st.CSRF}
	dirty := false // the page state is written back only when it changed
	if f := st.Flash; f != nil {
		v.Error, v.Notice, v.Fields, v.SummaryOpen = f.Error, f.Notice, f.Fields, f.Changed
		st.Flash, dirty = nil, true
	}
	// The last attempt decides what this page offers.
	if st.PaymentID != "" {
		pay, err := p.payments.Payment(ctx, st.PaymentID)
		if err != nil {
			return err
		}
		switch pay.Status {
		case checkout.StatusCaptured, checkout.StatusAuthorized, checkout.StatusProcessing:
			c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/done")
			return nil
		case checkout.StatusRequiresAction:
			if na := pay.NextAction; na != nil && v.Error == "" {
				v.Payment = &paymentView{ID: pay.ID, Gateway: pay.Gateway}
				switch {
				case na.Type == "sdk" || na.Type == "approve" || na.Type == "client_secret":
					b, err := json.Marshal(na)
					if err != nil {
						return errs.Wrap(errs.Internal, err, "next action")
					}
					v.Payment.ActionType, v.Payment.ActionJSON = na.Type, string(b)
					v.Payment.ConfirmURL = "/checkout/s/" + sess.ID + "/confirm"
					v.Notice = "Almost done: complete the payment in the secure window of our payment partner."
				case na.URL != "":
					v.Payment.ContinueURL = na.URL
					v.Notice = "Your bank is waiting for you to confirm the payment."
				}
			}
		case checkout.StatusFailed:
			if pay.IdempotencyKey == st.AttemptKey {
				// A new attempt: a new key, and forms from before are stale.
				st.AttemptKey, st.CSRF = "web_"+token(18), token(24)
				v.CSRF, dirty = st.CSRF, true
			}
		}
	}
	// Every amount is Magento's, read now.
	cv, err := p.carts.Load(ctx, sess.Cart)
	if err != nil {
		return err
	}
	seen := sess.Totals
	if st.SeenTotals != nil {
		seen = *st.SeenTotals
	}
	if cv.Totals != seen && v.Notice == "" {
		v.Notice = "Your cart changed in the store since you began. The totals below are up to date; please check them before you pay."
		v.SummaryOpen = true
	}

	t := cv.Totals
	if st.SeenTotals == nil || *st.SeenTotals != t {
		st.SeenTotals, dirty = &t, true
	}
	if dirty {
		if err := p.states.save(ctx, sess.ID, st, p.ttl(sess)); err != nil {
			return err
		}
	}
	v.Summary = p.summary(cv.Items, cv.Totals, sess.CarrierCode != "")
	v.Widget = &widgetView{Kind: p.cfg.Widget, AttemptKey: st.AttemptKey, Total: v.Summary.GrandTotal,
		Currency: t.Currency, Amount: t.GrandTotal, Email: sess.Email}
	switch p.cfg.Widget {
	case WidgetStripe:
		v.Widget.Key = p.cfg.StripePublishableKey
	case WidgetRazorpay:
		v.Widget.Key = p.cfg.RazorpayKeyID
	case WidgetPayPal:
		v.Widget.Key = p.cfg.PayPalClientID
	}
	return p.render(c, http.StatusOK, "payment", v)
}

var methods = map[string]gateway.Method{"card": gateway.Card, "upi": gateway.UPI, "netbanking": gateway.NetBanking,
	"wallet": gateway.Wallet, "paypal": gateway.PayPal}

// pay sends the payment. Only the token, the method and the attempt key
// come from the form; amount and currency are Magento's (any posted price
// is never read).
func (p *Pages) pay(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := p.verifyPost(c, st); err != nil {
		return err
	}
	ctx := c.Request.Context()
	back := "/checkout/s/" + sess.ID + "/payment"
	if sess.Status == checkout.SessionPaid {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/done")
		return nil
	}
	key := c.PostForm("attempt_key")
	if !equal(key, st.AttemptKey) {
		return p.redirectWith(c, sess, st, &flash{Error: "This payment form was out of date, so nothing was charged. Please check the details and pay again."}, back)
	}
	method, ok := methods[c.PostForm("method")]
	tok := c.PostForm("token")
	if tok == "" && (p.cfg.Widget == WidgetRazorpay || p.cfg.Widget == WidgetPayPal) {
		// Pay first: the routed gateway's widget collects the payment after.
		tok = "widget:" + p.cfg.Widget
	}
	if !ok || tok == "" || len(tok) > 512 {
		return p.redirectWith(c, sess, st, &flash{Error: "Please enter your payment details.", Fields: map[string]string{"card": "Enter your card details."}}, back)
	}
	// Show changed totals before charging: pay only what the shopper saw.
	cv, err := p.carts.Load(ctx, sess.Cart)
	if err != nil {
		return err
	}
	if st.SeenTotals == nil || cv.Totals != *st.SeenTotals {
		return p.redirectWith(c, sess, st, &flash{Notice: "Your cart changed in the store, so nothing was charged yet. Please check the new totals and pay again.",
			Changed: true}, back)
	}
	pay, err := p.payments.Pay(ctx, checkout.PayParams{SessionID: sess.ID, Subject: st.Subject, IdempotencyKey: st.AttemptKey,
		Method: method, Token: tok, Channel: "web"})
	if err != nil {
		e := errs.As(err)
		switch {
		case errs.Is(err, errs.Conflict) && sess.PaymentID != "" && sess.PaymentID != st.PaymentID:
			st.PaymentID = sess.PaymentID // paid or in flight from another tab
			return p.redirectWith(c, sess, st, nil, "/checkout/s/"+sess.ID+"/done")
		case e.Code == "card_blocked" || e.Code == "no_eligible_gateway" || e.Code == "idempotency_conflict" ||
			e.Code == errs.Invalid || e.Code == errs.Unprocessable || e.Code == errs.Conflict:
			st.AttemptKey, st.CSRF = "web_"+token(18), token(24)
			return p.redirectWith(c, sess, st, &flash{Error: e.Message + " Nothing was charged."}, back)
		case e.Code == errs.Unavailable || e.Code == errs.Timeout:
			return p.redirectWith(c, sess, st, &flash{Error: "We couldn't reach the payment provider. Please try again in a moment."}, back)
		}
		return err
	}
	st.PaymentID = pay.ID
	switch pay.Status {
	case checkout.StatusFailed:
		return p.redirectWith(c, sess, st, &flash{Error: declineAdvice(pay.DeclineCode, pay.ErrorMessage)}, back)
	case checkout.StatusRequiresAction:
		if pay.NextAction != nil && pay.NextAction.URL != "" {
			if err := p.states.save(ctx, sess.ID, st, p.ttl(sess)); err != nil {
				return err
			}
			if to, ok := p.sandboxAction(pay.NextAction.URL); ok {
				c.Redirect(http.StatusSeeOther, to)
				return nil
			}
			if u := pay.NextAction.URL; origin(u) == p.origin || strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.Contains(u, "\\") {
				c.Redirect(http.StatusSeeOther, pay.NextAction.URL)
				return nil
			}
			// A cross-origin action is followed from the page (form-action 'self'
			// does not let a form post redirect there).
			c.Redirect(http.StatusSeeOther, back)
			return nil
		}
		// The gateway's widget finishes it on the payment page (Razorpay
		// Checkout, PayPal buttons, Stripe's next action).
		return p.redirectWith(c, sess, st, nil, back)
	}
	return p.redirectWith(c, sess, st, nil, "/checkout/s/"+sess.ID+"/done")
}

// confirm is where the page goes after a gateway's widget reports success.
// Nothing in the post is believed: the payment's state is looked up at the
// gateway (Reconcile), and webhooks confirm it too.
func (p *Pages) confirm(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := p.verifyPost(c, st); err != nil {
		return err
	}
	back := "/checkout/s/" + sess.ID + "/payment"
	if st.PaymentID == "" {
		c.Redirect(http.StatusSeeOther, back)
		return nil
	}
	pay, err := p.payments.Reconcile(c.Request.Context(), st.PaymentID)
	if err != nil {
		return err
	}
	switch pay.Status {
	case checkout.StatusFailed:
		return p.redirectWith(c, sess, st, &flash{Error: declineAdvice(pay.DeclineCode, pay.ErrorMessage)}, back)
	case checkout.StatusRequiresAction:
		if c.PostForm("outcome") == "dismissed" {
			return p.redirectWith(c, sess, st, &flash{Notice: "The payment window was closed before paying. Nothing was charged; you can open it again."}, back)
		}
	}
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/done")
	return nil
}

// declineAdvice says what the shopper can do about a decline.
func declineAdvice(code, msg string) string {
	const nothing = " Nothing was charged."
	switch code {
	case "insufficient_funds", "card_velocity_exceeded", "withdrawal_count_limit_exceeded":
		return "Your bank declined this card: there isn't enough available on it." + nothing + " You can pay with another card or payment method below."
	case "expired_card", "invalid_expiry_month", "invalid_expiry_year":
		return "This card has expired." + nothing + " Please use another card."
	case "incorrect_cvc", "invalid_cvc", "incorrect_number", "invalid_number", "incorrect_zip":
		return "Some card details didn't match." + nothing + " Please check the card number, expiry date and security code, or use another card."
	case "authentication_failed", "authentication_required", "payment_cancelled", "canceled":
		return "Your bank couldn't confirm the payment." + nothing + " You can try again, or use another card or payment method."
	case "stolen_card", "lost_card", "pickup_card", "fraudulent", "restricted_card", "card_blocked":
		return "This card can't be used for this purchase." + nothing + " Please use another payment method."
	case "retry_budget_exceeded":
		return "This card has been tried too many times." + nothing + " Please use another card or payment method."
	case "processing_error", "gateway_unavailable", "no_gateway_attempted", "issuer_not_available", "try_again_later":
		return "We couldn't complete the payment with the bank just now." + nothing + " Please try again in a moment."
	}
	if msg == "" {
		msg = "Your bank declined the payment."
	}
	return strings.TrimSpace(msg) + nothing + " You can try another card or payment method, or contact your bank."
}

func (p *Pages) done(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	if st.PaymentID == "" && sess.PaymentID != "" {
		st.PaymentID = sess.PaymentID
	}
	if st.PaymentID == "" {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/"+next(sess, st))
		return nil
	}
	pay, err := p.payments.Payment(c.Request.Context(), st.PaymentID)
	if err != nil {
		return err
	}
	if pay.Status == checkout.StatusFailed {
		return p.redirectWith(c, sess, st, &flash{Error: declineAdvice(pay.DeclineCode, pay.ErrorMessage)}, "/checkout/s/"+sess.ID+"/payment")
	}
	if pay.Status == checkout.StatusRequiresAction {
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/payment")
		return nil
	}
	title := "Order confirmed"
	if pay.Status == checkout.StatusProcessing {
		title = "Confirming your payment"
	}
	v := &view{Title: title, Step: "done", Steps: steps(sess.ID, "done", sess),
		Summary: p.summary(pay.Snapshot.Items, pay.Snapshot.Totals, pay.Snapshot.ShippingCarrier != ""), Payment: p.paymentView(sess.ID, pay),
		Form: map[string]string{"email": sess.Email}}
	if a := sess.ShippingAddress; a != nil {
		v.Form["firstname"] = a.Firstname
	}
	if len(pay.Snapshot.Items) == 0 {
		v.Summary = p.summary(sess.Items, sess.Totals, sess.CarrierCode != "")
	}
	v.CartURL = "/checkout/leave?to=" + url.QueryEscape(p.cfg.AllowedReturnOrigins[0]+"/")
	return p.render(c, http.StatusOK, "done", v)
}

func (p *Pages) paymentView(sessionID string, pay *checkout.Payment) *paymentView {
	v := &paymentView{ID: pay.ID, Status: pay.Status, Amount: p.money.Format(pay.Amount, pay.Currency),
		Method: pay.Method, OrderNumber: pay.MagentoIncrementID, PollURL: "/checkout/s/" + sessionID + "/status",
		PollMS: p.cfg.PollInterval.Milliseconds()}
	switch pay.Status {
	case checkout.StatusCaptured:
		v.StatusText = "Payment received"
	case checkout.StatusAuthorized:
		v.StatusText = "Payment authorised"
	case checkout.StatusProcessing:
		v.StatusText = "We're confirming your payment with the bank"
	case checkout.StatusFailed:
		v.StatusText = "Payment failed"
	case checkout.StatusRequiresAction:
		v.StatusText = "Waiting for your bank"
	}
	v.Final = pay.MagentoIncrementID != "" || pay.Status == checkout.StatusFailed
	v.Pending = !v.Final
	return v
}

// status answers the confirmation page's polling.
func (p *Pages) status(c *gin.Context) error {
	sess, st, err := p.bound(c, c.Param("id"))
	if err != nil {
		return err
	}
	id := firstOf(st.PaymentID, sess.PaymentID)
	if id == "" {
		return errs.E(errs.NotFound, "No payment yet.")
	}
	pay, err := p.payments.Payment(c.Request.Context(), id)
	if err != nil {
		return err
	}
	v := p.paymentView(sess.ID, pay)
	body := gin.H{"status": v.Status, "status_text": v.StatusText, "order_number": v.OrderNumber, "final": v.Final}
	if pay.Status == checkout.StatusFailed || pay.Status == checkout.StatusRequiresAction {
		// The bank said no after all (an outcome that was unknown): the
		// payment page says what happened and offers another attempt.
		body["next"] = "/checkout/s/" + sess.ID + "/payment"
	}
	c.JSON(http.StatusOK, body)
	return nil
}

// returned is where a gateway sends the shopper back after an action.
func (p *Pages) returned(c *gin.Context) error {
	id := c.Param("payment")
	if id == "" {
		id = c.Query("payment")
	}
	if !validID(id) {
		return errs.E(errs.NotFound, "We couldn't find that payment.")
	}
	pay, err := p.payments.Payment(c.Request.Context(), id)
	if err != nil {
		return err
	}
	sess, st, err := p.bound(c, pay.SessionID)
	if err != nil {
		return err
	}
	if st.PaymentID != pay.ID {
		return errForeign
	}
	if pay.Status == checkout.StatusRequiresAction || pay.Status == checkout.StatusProcessing {
		// The gateway may know more than its webhook has told us yet.
		if fresh, err := p.payments.Reconcile(c.Request.Context(), pay.ID); err == nil {
			pay = fresh
		}
	}
	switch pay.Status {
	case checkout.StatusFailed:
		return p.redirectWith(c, sess, st, &flash{Error: declineAdvice(pay.DeclineCode, pay.ErrorMessage)}, "/checkout/s/"+sess.ID+"/payment")
	case checkout.StatusRequiresAction:
		c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/payment")
		return nil
	}
	c.Redirect(http.StatusSeeOther, "/checkout/s/"+sess.ID+"/done")
	return nil
}

// sandboxAction maps a sandbox gateway's 3-D Secure URL (…/sandbox/3ds/<ref>
// on this host) to the page here, which brings the shopper back.
func (p *Pages) sandboxAction(u string) (string, bool) {
	if p.cfg.Widget != WidgetSandbox {
		return "", false
	}
	path := u
	if o := origin(u); o != "" {
		if o != p.origin {
			return "", false
		}
		path = strings.TrimPrefix(u, o)
	}
	ref, ok := strings.CutPrefix(path, "/sandbox/3ds/")
	if !ok || !validRef(ref) {
		return "", false
	}
	return "/checkout/sandbox/3ds/" + ref, true
}

// threeDSToken binds the sandbox 3-D Secure form to the browser's secret.
func (p *Pages) threeDSToken(c *gin.Context, ref string) string {
	cookie, _ := c.Cookie(p.cookieName)
	if cookie == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("sandbox-3ds:" + ref))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func validRef(ref string) bool {
	return len(ref) > 4 && len(ref) <= 128 && !strings.ContainsAny(ref, "/?#<>\"' ")
}

func (p *Pages) threeDS(c *gin.Context) error {
	ref := c.Param("ref")
	if !validRef(ref) {
		return errs.E(errs.NotFound, "Unknown authentication request.")
	}
	tok := p.threeDSToken(c, ref)
	if tok == "" {
		return errForeign
	}
	return p.render(c, http.StatusOK, "threeds", &view{Title: "Confirm your payment", Step: "3ds",
		Action: "/checkout/sandbox/3ds/" + ref, ThreeDS: &threeDSView{Reference: ref, Token: tok}})
}

func (p *Pages) completeThreeDS(c *gin.Context) error {
	ref := c.Param("ref")
	if !validRef(ref) {
		return errs.E(errs.NotFound, "Unknown authentication request.")
	}
	if o := c.GetHeader("Origin"); o != "" && o != p.origin {
		return errCrossOrigin
	}
	if want := p.threeDSToken(c, ref); !equal(c.PostForm("csrf"), want) {
		return errStale
	}
	pay, err := p.actions.CompleteAction(c.Request.Context(), ref, c.PostForm("decision") == "approve")
	if err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, "/checkout/return/"+pay.ID)
	return nil
}
