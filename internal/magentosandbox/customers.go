package magentosandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/magefleet/platform/internal/magento"
)

type credentials struct {
	Username *string `json:"username"`
	Password *string `json:"password"`
	OTP      *string `json:"otp"`
}

func (c credentials) check(withOTP bool) error {
	switch {
	case c.Username == nil:
		return required("username")
	case c.Password == nil:
		return required("password")
	case withOTP && c.OTP == nil:
		return required("otp")
	}
	return nil
}

func (s *Sandbox) issue(t token) string {
	tok := randomToken(32)
	s.st.tokens[tok] = t
	return tok
}

func (s *Sandbox) adminToken(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := decode(r, &c); err != nil {
		return err
	}
	if err := c.check(false); err != nil {
		return err
	}
	if *c.Username != s.opts.AdminUsername || *c.Password != s.opts.AdminPassword {
		return errf(http.StatusUnauthorized, msgBadSignIn, nil)
	}
	if s.opts.AdminTOTPSecret != "" {
		// Magento_TwoFactorAuth's AdminTokenPlugin, for a user with Google
		// Authenticator configured.
		return errf(http.StatusUnauthorized, msgUseTFA, map[string][]string{"active_providers": {"google"}})
	}
	s.mu.Lock()
	tok := s.issue(token{admin: s.opts.AdminUsername, expires: s.opts.Now().Add(s.opts.AdminTokenLifetime)})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
	return nil
}

func (s *Sandbox) tfaAuthenticate(w http.ResponseWriter, r *http.Request) error {
	if s.opts.AdminTOTPSecret == "" {
		// Magento_TwoFactorAuth disabled: the route does not exist.
		return errf(http.StatusNotFound, msgNoRoute, nil)
	}
	var c credentials
	if err := decode(r, &c); err != nil {
		return err
	}
	if err := c.check(true); err != nil {
		return err
	}
	if *c.Username != s.opts.AdminUsername || *c.Password != s.opts.AdminPassword {
		return errf(http.StatusUnauthorized, msgBadSignIn, nil)
	}
	ok, err := totp.ValidateCustom(*c.OTP, s.opts.AdminTOTPSecret, s.opts.Now(), totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil || !ok {
		return errf(http.StatusUnauthorized, msgInvalidOTP, nil)
	}
	s.mu.Lock()
	tok := s.issue(token{admin: s.opts.AdminUsername, expires: s.opts.Now().Add(s.opts.AdminTokenLifetime)})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tok)
	return nil
}

func (s *Sandbox) customerToken(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := decode(r, &c); err != nil {
		return err
	}
	if err := c.check(false); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cust := s.st.customerByEmail(*c.Username, 1)
	if cust == nil || cust.Password == "" || cust.Password != *c.Password {
		return errf(http.StatusUnauthorized, msgBadSignIn, nil)
	}
	if cust.Confirmation != "" {
		return errf(http.StatusUnauthorized, msgNotConfirmed, nil)
	}
	tok := s.issue(token{customerID: cust.ID, expires: s.opts.Now().Add(s.opts.CustomerTokenLifetime)})
	writeJSON(w, http.StatusOK, tok)
	return nil
}

type createCustomerReq struct {
	Customer *magento.Customer `json:"customer"`
	Password string            `json:"password"`
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

func (s *Sandbox) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var req createCustomerReq
	if err := decode(r, &req); err != nil {
		return err
	}
	c := req.Customer
	if c == nil {
		return required("customer")
	}
	for field, v := range map[string]string{"Email": c.Email, "First Name": c.Firstname, "Last Name": c.Lastname} {
		if strings.TrimSpace(v) == "" {
			return errf(http.StatusBadRequest, `"%fieldName" is required. Enter and try again.`, map[string]string{"fieldName": field})
		}
	}
	if !emailRE.MatchString(c.Email) {
		return errf(http.StatusBadRequest, `"%1" is not a valid email address. Enter and try again.`, []string{c.Email})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	website := c.WebsiteID
	if website == 0 {
		website = 1
	}
	if s.st.customerByEmail(c.Email, website) != nil {
		return errf(http.StatusBadRequest, msgDuplicateEmail, nil)
	}
	now := ymd(s.opts.Now())
	s.st.nextCustomer++
	nc := &customer{Customer: *c, Password: req.Password}
	nc.ID, nc.WebsiteID, nc.StoreID, nc.CreatedAt, nc.UpdatedAt, nc.CreatedIn = s.st.nextCustomer, website, 1, now, now, "Default Store View"
	if nc.GroupID == 0 {
		nc.GroupID = 1
	}
	// Magento's ResourceModel\Customer::_beforeSave: a new customer with a
	// password waits for email confirmation when the store requires it; one
	// without a password never does.
	nc.Confirmation = ""
	if s.opts.ConfirmAccounts && req.Password != "" {
		nc.Confirmation = randomToken(16)
	}
	ext := magento.CustomerExtension{IsSubscribed: new(bool), AssistanceAllowed: magento.AssistanceDenied}
	if c.ExtensionAttributes != nil && c.ExtensionAttributes.AssistanceAllowed != 0 {
		ext.AssistanceAllowed = c.ExtensionAttributes.AssistanceAllowed
	}
	nc.ExtensionAttributes = &ext
	for i := range nc.Addresses {
		a := &nc.Addresses[i]
		a.ID, a.CustomerID = nc.ID*10+int64(i), nc.ID
		if a.DefaultBilling {
			nc.DefaultBilling = strconv.FormatInt(a.ID, 10)
			nc.Telephone = a.Telephone
		}
		if a.DefaultShipping {
			nc.DefaultShipping = strconv.FormatInt(a.ID, 10)
		}
	}
	s.st.addCustomer(nc)
	writeJSON(w, http.StatusOK, nc.Customer)
	return nil
}

func (s *Sandbox) getCustomer(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Customer::manage"); err != nil {
		return err
	}
	raw := r.PathValue("customerId")
	id, _ := strconv.ParseInt(raw, 10, 64)
	c, ok := s.st.customers[id]
	if !ok {
		return errf(http.StatusNotFound, msgNoSuchEntity, map[string]string{"fieldName": "customerId", "fieldValue": raw})
	}
	writeJSON(w, http.StatusOK, c.Customer)
	return nil
}

func (s *Sandbox) getMe(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, err := s.authCustomer(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.st.customers[id].Customer)
	return nil
}

func (s *Sandbox) searchCustomers(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Customer::manage"); err != nil {
		return err
	}
	c, err := parseCriteria(r.URL.Query())
	if err != nil {
		return err
	}
	all := make([]*customer, 0, len(s.st.customers))
	for id := int64(1); id <= s.st.nextCustomer; id++ {
		if cust, ok := s.st.customers[id]; ok {
			all = append(all, cust)
		}
	}
	items, total := apply(c, all, func(cust *customer, f map[string]string) {
		// Customer grid fields beside the interface's own.
		f["entity_id"] = strconv.FormatInt(cust.ID, 10)
		f["billing_telephone"] = cust.Telephone
	})
	out := make([]magento.Customer, len(items))
	for i, cust := range items {
		out[i] = cust.Customer
	}
	writeJSON(w, http.StatusOK, magento.SearchResult[magento.Customer]{Items: out, SearchCriteria: c.echo(), TotalCount: total})
	return nil
}

// GraphQL: only generateCustomerTokenAsAdmin, with Magento's preconditions.

type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []string       `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

var (
	gqlMutationRE = regexp.MustCompile(`(?s)^\s*mutation\b.*\bgenerateCustomerTokenAsAdmin\s*\(\s*input\s*:\s*\{\s*customer_email\s*:\s*(?:"([^"]*)"|\$(\w+))\s*\}\s*\)\s*\{\s*customer_token\s*\}`)
)

func (s *Sandbox) graphql(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg, category string) {
		writeJSON(w, status, map[string]any{
			"errors": []gqlError{{Message: msg, Locations: []gqlLocation{{Line: 2, Column: 3}}, Path: []string{"generateCustomerTokenAsAdmin"}, Extensions: map[string]any{"category": category}}},
			"data":   map[string]any{"generateCustomerTokenAsAdmin": nil},
		})
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{{Message: "Syntax Error: Unexpected <EOF>", Extensions: map[string]any{"category": "graphql"}}}})
		return
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{{Message: "Unable to parse the request.", Extensions: map[string]any{"category": "graphql"}}}})
		return
	}
	m := gqlMutationRE.FindStringSubmatch(req.Query)
	if m == nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{{Message: "Cannot query field in the sandbox: only generateCustomerTokenAsAdmin { customer_token } is supported", Extensions: map[string]any{"category": "graphql"}}}})
		return
	}
	email := m[1]
	if m[2] != "" {
		v, _ := req.Variables[m[2]].(string)
		email = v
	}
	// The checks run in the order of Magento's RequestCustomerToken
	// resolver; the customer's own opt-in (assistance_allowed = 2), which
	// Adobe documents as a precondition, is checked last.
	if strings.TrimSpace(email) == "" {
		fail(http.StatusOK, `Specify the "customer email" value.`, "graphql-input")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tokens[bearer(r)]
	if !ok || t.admin == "" || !s.opts.Now().Before(t.expires) {
		fail(http.StatusOK, "The current customer isn't authorized.", "graphql-authorization")
		return
	}
	if s.opts.DisableLoginAsCustomer {
		fail(http.StatusOK, "Login as Customer is disabled.", "graphql-authorization")
		return
	}
	cust := s.st.customerByEmail(email, 1)
	if cust == nil {
		fail(http.StatusOK, "Customer email provided does not exist", "graphql-input")
		return
	}
	if cust.ExtensionAttributes == nil || cust.ExtensionAttributes.AssistanceAllowed != magento.AssistanceAllowed {
		fail(http.StatusOK, "Allow remote shopping assistance is disabled.", "graphql-authorization")
		return
	}
	tok := s.issue(token{customerID: cust.ID, expires: s.opts.Now().Add(s.opts.CustomerTokenLifetime)})
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"generateCustomerTokenAsAdmin": map[string]string{"customer_token": tok}}})
}
