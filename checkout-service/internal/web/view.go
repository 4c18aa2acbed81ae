package web

import (
	"strconv"

	"github.com/magefleet/platform/checkout-service/internal/checkout"
)

// view is what every template receives.
type view struct {
	Title string
	Step  string

	Nonce   string
	Store   string
	Lang    string
	CartURL string

	Steps   []stepView
	Summary *summaryView
	// SummaryOpen keeps the order summary unfolded on phones (the cart changed).
	SummaryOpen bool

	Action string // the form's action
	CSRF   string
	Notice string
	Error  string
	Fields map[string]string
	Form   map[string]string

	// Auth is otp-service's path on this origin when login by code is offered.
	Auth     string
	LoggedIn bool

	// error page
	Message     string
	RequestID   string
	ContinueURL string

	Countries []option
	Methods   []methodView
	Widget    *widgetView
	Payment   *paymentView
	ThreeDS   *threeDSView
}

type stepView struct {
	Name    string
	Label   string
	URL     string // empty when not reachable yet
	Current bool
	Done    bool
}

type summaryView struct {
	Items      []itemView
	Subtotal   string
	Shipping   string
	HasShip    bool
	Tax        string
	HasTax     bool
	Discount   string
	HasDisc    bool
	GrandTotal string
	Count      int
}

type itemView struct {
	Name, SKU, Qty, Price, RowTotal string
}

type option struct {
	Value, Label string
	Selected     bool
}

type methodView struct {
	Value, Label, Amount, Error string
	Available, Selected         bool
}

type widgetView struct {
	Kind       string // sandbox, stripe, razorpay, paypal
	AttemptKey string
	Total      string
	Currency   string
	Amount     int64
	Key        string // publishable key or client id
	Email      string
}

type paymentView struct {
	ID, Status, StatusText, Amount, Method, OrderNumber, Gateway string
	Final, Pending                                               bool
	PollURL                                                      string
	PollMS                                                       int64
	ContinueURL                                                  string
	// A gateway widget's next action (Razorpay Checkout, PayPal buttons,
	// Stripe's handleNextAction), as JSON for the page's script.
	ActionType, ActionJSON, ConfirmURL string
}

type threeDSView struct {
	Reference string
	Token     string
}

// summary builds the order summary from Magento's items and totals.
// shipped says whether a shipping method is chosen (a zero shipping amount
// is then "Free", not "not yet known").
func (p *Pages) summary(items []checkout.Item, t checkout.Totals, shipped bool) *summaryView {
	s := &summaryView{
		Subtotal: p.money.Format(t.Subtotal, t.Currency), Shipping: p.money.Format(t.Shipping, t.Currency),
		HasShip: t.Shipping != 0 || shipped, Tax: p.money.Format(t.Tax, t.Currency), HasTax: t.Tax != 0,
		Discount: p.money.Format(t.Discount, t.Currency), HasDisc: t.Discount != 0,
		GrandTotal: p.money.Format(t.GrandTotal, t.Currency),
	}
	for _, it := range items {
		s.Items = append(s.Items, itemView{Name: it.Name, SKU: it.SKU, Qty: qtyString(it.Qty),
			Price: p.money.Format(it.Price, t.Currency), RowTotal: p.money.Format(it.RowTotal, t.Currency)})
		s.Count += int(it.Qty)
	}
	if shipped && t.Shipping == 0 {
		s.Shipping = "Free"
	}
	return s
}

func qtyString(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }

// steps lists the flow's steps for the progress bar.
func steps(id, current string, sess *checkout.Session) []stepView {
	base := "/checkout/s/" + id + "/"
	hasAddr := sess.ShippingAddress != nil && sess.Email != ""
	hasShip := sess.IsVirtual || sess.CarrierCode != ""
	out := []stepView{
		{Name: "details", Label: "Details", URL: base + "details", Done: hasAddr},
		{Name: "shipping", Label: "Shipping", Done: hasShip},
		{Name: "payment", Label: "Payment"},
	}
	if hasAddr && !sess.IsVirtual {
		out[1].URL = base + "shipping"
	}
	if hasAddr && hasShip {
		out[2].URL = base + "payment"
	}
	if sess.Status == checkout.SessionPaid {
		for i := range out {
			out[i].URL, out[i].Done = "", true
		}
	}
	for i := range out {
		out[i].Current = out[i].Name == current
	}
	return out
}

var countries = []option{
	{Value: "US", Label: "United States"}, {Value: "CA", Label: "Canada"}, {Value: "GB", Label: "United Kingdom"},
	{Value: "IN", Label: "India"}, {Value: "DE", Label: "Germany"}, {Value: "FR", Label: "France"},
	{Value: "NL", Label: "Netherlands"}, {Value: "ES", Label: "Spain"}, {Value: "IT", Label: "Italy"},
	{Value: "AU", Label: "Australia"}, {Value: "JP", Label: "Japan"},
}

func countryOptions(selected string) []option {
	out := make([]option, len(countries))
	for i, c := range countries {
		c.Selected = c.Value == selected
		out[i] = c
	}
	return out
}

// input is one text field of a form.
type input struct {
	Name, Label, Auto, Type, Value, Err string
	Required                            bool
}

func newInput(v *view, name, label, auto, typ string) input {
	return input{Name: name, Label: label, Auto: auto, Type: typ, Value: v.Form[name], Err: v.Fields[name],
		Required: name != "street2" && name != "region"}
}
