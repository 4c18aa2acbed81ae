package magento

import (
	"context"
	"net/http"
	"strconv"

	"github.com/magefleet/platform/internal/errs"
)

// SearchCustomers runs GET /V1/customers/search with searchCriteria.
func (c *Client) SearchCustomers(ctx context.Context, sc SearchCriteria) (*SearchResult[Customer], error) {
	var out SearchResult[Customer]
	if err := c.do(ctx, call{method: http.MethodGet, path: "/customers/search", query: sc.Query(), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CustomerByEmail returns the customer whose email is email, ignoring ASCII
// case only, in a website, or errs.NotFound. websiteID 0 searches every
// website.
//
// Magento's search compares emails under its collation (utf8mb4_general_ci),
// which ignores accents as well as case: `email eq jane@gmáil.com` finds
// jane@gmail.com. So every customer the search returns is checked, and
// only an exact match is returned.
func (c *Client) CustomerByEmail(ctx context.Context, email string, websiteID int) (*Customer, error) {
	const pageSize, maxPages = 10, 5
	for page := 1; page <= maxPages; page++ {
		sc := Where("email", "eq", email).Page(pageSize, page)
		if websiteID > 0 {
			sc = sc.And("website_id", "eq", strconv.Itoa(websiteID))
		}
		res, err := c.SearchCustomers(ctx, sc)
		if err != nil {
			return nil, err
		}
		for i := range res.Items {
			if sameEmail(res.Items[i].Email, email) {
				return &res.Items[i], nil
			}
		}
		if page*pageSize >= res.TotalCount {
			break
		}
	}
	return nil, errs.E(errs.NotFound, "no customer with that email")
}

// sameEmail reports whether a and b are equal ignoring ASCII case. Unlike
// strings.EqualFold it folds nothing else: the Kelvin sign (U+212A) is not k.
func sameEmail(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Customer returns a customer by id.
func (c *Client) Customer(ctx context.Context, id int64) (*Customer, error) {
	var out Customer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/customers/" + strconv.FormatInt(id, 10), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCustomer creates a customer (POST /V1/customers) with
// extension_attributes.assistance_allowed = 2 unless the caller set it, so
// generateCustomerTokenAsAdmin works for them. An empty password creates an
// account without one. A duplicate email in the website is errs.Invalid
// ("A customer with the same email address already exists in an associated
// website.").
func (c *Client) CreateCustomer(ctx context.Context, cust Customer, password string) (*Customer, error) {
	if cust.ExtensionAttributes == nil {
		cust.ExtensionAttributes = &CustomerExtension{}
	}
	if cust.ExtensionAttributes.AssistanceAllowed == 0 {
		cust.ExtensionAttributes.AssistanceAllowed = AssistanceAllowed
	}
	body := struct {
		Customer Customer `json:"customer"`
		Password string   `json:"password,omitempty"`
	}{cust, password}
	var out Customer
	if err := c.do(ctx, call{method: http.MethodPost, path: "/customers", body: body, auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CustomerToken logs a customer in with email and password
// (POST /V1/integration/customer/token); tokens live 1 h by default.
func (c *Client) CustomerToken(ctx context.Context, email, password string) (string, error) {
	var tok string
	body := map[string]string{"username": email, "password": password}
	err := c.do(ctx, call{method: http.MethodPost, path: "/integration/customer/token", body: body, out: &tok, idempotent: true})
	return tok, err
}

// Me returns the customer whose token is given (GET /V1/customers/me).
func (c *Client) Me(ctx context.Context, customerToken string) (*Customer, error) {
	var out Customer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/customers/me", auth: authCustomer, token: customerToken, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
