package magentosandbox

import (
	"fmt"
	"time"

	"github.com/magefleet/platform/internal/magento"
)

type product struct {
	ID        int64
	SKU       string
	Name      string
	Category  string // tops, bottoms, gear
	Price     float64
	Qty       float64 // salable quantity
	Taxable   bool
	Weight    float64
	CreatedAt time.Time
}

type quoteItem struct {
	ID        int64
	ProductID int64
	SKU       string
	Name      string
	Price     float64
	Qty       float64
	Taxable   bool
}

type quote struct {
	ID              int64
	Masked          string // guest carts only
	StoreID         int
	CustomerID      int64
	IsActive        bool
	Items           []*quoteItem
	Coupon          string
	ShippingAddr    *magento.Address
	BillingAddr     *magento.Address
	Carrier, Method string
	Email           string
	ReservedOrderID string
	payment         *magento.Payment
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

type customer struct {
	magento.Customer
	Password  string
	Telephone string
}

type invoice Invoice

type token struct {
	admin      string // admin username, for admin tokens
	customerID int64  // for customer tokens
	expires    time.Time
}

type state struct {
	products     map[string]*product
	productOrder []string
	quotes       map[int64]*quote
	masks        map[string]int64
	customers    map[int64]*customer
	byEmail      map[string][]*customer // lower-case email → its customers (one per website)
	orders       map[int64]*magento.Order
	orderOrder   []int64
	orderQuote   map[int64]int64 // order id → quote id
	invoices     []*invoice
	creditmemos  []*magento.CreditMemo
	tokens       map[string]token
	nextQuote    int64
	nextItem     int64
	nextCustomer int64
	nextOrder    int64
	nextOrderItm int64
	nextReserved int64
	nextInvoice  int64
	nextCredit   int64
	nextHistory  int64
}

func newState(now time.Time) *state {
	st := &state{
		products:   map[string]*product{},
		quotes:     map[int64]*quote{},
		masks:      map[string]int64{},
		customers:  map[int64]*customer{},
		byEmail:    map[string][]*customer{},
		orders:     map[int64]*magento.Order{},
		orderQuote: map[int64]int64{},
		tokens:     map[string]token{},
	}
	seedCatalog(st, now)
	st.nextCustomer++
	st.addCustomer(&customer{
		Customer: magento.Customer{
			ID: st.nextCustomer, GroupID: 1, Email: "roni_cost@example.com", Firstname: "Veronica", Lastname: "Costello",
			CreatedAt: ymd(now), UpdatedAt: ymd(now), CreatedIn: "Default Store View", StoreID: 1, WebsiteID: 1,
			Addresses:      []magento.CustomerAddress{{ID: 1, CustomerID: 1, RegionID: 12, CountryID: "US", Street: []string{"6146 Honey Bluff Parkway"}, Telephone: "(555) 229-3326", Postcode: "49628-7978", City: "Calder", Firstname: "Veronica", Lastname: "Costello", DefaultShipping: true, DefaultBilling: true}},
			DefaultBilling: "1", DefaultShipping: "1",
			ExtensionAttributes: &magento.CustomerExtension{IsSubscribed: new(bool), AssistanceAllowed: magento.AssistanceAllowed},
		},
		Password:  "roni_cost3@example.com",
		Telephone: "(555) 229-3326",
	})
	return st
}

type seedFamily struct {
	sku, name, category string
	price               float64
	sizes, colors       []string
	qty                 float64
}

// seedCatalog adds Luma-style products: configurable families expanded into
// their simple SKUs (SKU-SIZE-COLOR) plus simple gear items.
func seedCatalog(st *state, now time.Time) {
	tops := []string{"XS", "S", "M", "L", "XL"}
	families := []seedFamily{
		{"MH01", "Chaz Kangeroo Hoodie", "tops", 52, tops, []string{"Black", "Gray", "Orange"}, 100},
		{"MH02", "Teton Pullover Hoodie", "tops", 70, tops, []string{"Black", "Purple", "Red"}, 100},
		{"MH03", "Bruno Compete Hoodie", "tops", 63, tops, []string{"Black", "Blue", "Green"}, 100},
		{"MS04", "Gobi HeatTec Tee", "tops", 29, tops, []string{"Black", "Orange", "Yellow"}, 100},
		{"WH01", "Mona Pullover Hoodlie", "tops", 57, tops, []string{"Green", "Orange", "Purple"}, 100},
		{"WS03", "Iris Workout Top", "tops", 29, tops, []string{"Blue", "Green", "Red"}, 100},
		{"MP01", "Caesar Warm-Up Pant", "bottoms", 35, []string{"32", "33", "34", "36"}, []string{"Black", "Gray", "Purple"}, 100},
		{"MSH02", "Apollo Running Short", "bottoms", 32.5, []string{"32", "33", "34", "36"}, []string{"Black", "Gray"}, 100},
		{"WSH01", "Fiona Fitness Short", "bottoms", 29, []string{"28", "29", "30", "31"}, []string{"Black", "Green", "Red"}, 100},
		{"WP07", "Aeon Capri", "bottoms", 48, []string{"28", "29", "30"}, []string{"Black", "Blue", "Orange"}, 100},
	}
	add := func(sku, name, cat string, price, qty float64, weight float64) {
		id := int64(len(st.productOrder) + 1)
		st.products[sku] = &product{ID: id, SKU: sku, Name: name, Category: cat, Price: price, Qty: qty, Taxable: true, Weight: weight, CreatedAt: now}
		st.productOrder = append(st.productOrder, sku)
	}
	gear := []struct {
		sku, name string
		price     float64
		qty       float64
	}{
		{"24-MB01", "Joust Duffle Bag", 34, 100},
		{"24-MB04", "Strive Shoulder Pack", 32, 100},
		{"24-MB03", "Crown Summit Backpack", 38, 100},
		{"24-MB05", "Wayfarer Messenger Bag", 45, 100},
		{"24-MB06", "Rival Field Messenger", 45, 100},
		{"24-MB02", "Fusion Backpack", 59, 100},
		{"24-UB02", "Impulse Duffle", 74, 100},
		{"24-WB01", "Voyage Yoga Bag", 32, 100},
		{"24-WB04", "Overnight Duffle", 45, 100},
		{"24-UG03", "Harmony Lumaflex Strength Band Kit", 22, 100},
		{"24-UG05", "Go-Get'r Pushup Grips", 19, 100},
		{"24-UG07", "Dual Handle Cardio Ball", 12, 100},
		{"24-WG085", "Sprite Yoga Strap 6 foot", 14, 100},
		{"24-WG01", "Bolo Sport Watch", 49, 3},
		{"24-MG04", "Aim Analog Watch", 45, 100},
		{"24-UG01", "Quest Lumaflex Band", 19, 0},
	}
	for _, f := range families {
		for _, size := range f.sizes {
			for _, color := range f.colors {
				add(fmt.Sprintf("%s-%s-%s", f.sku, size, color), fmt.Sprintf("%s-%s-%s", f.name, size, color), f.category, f.price, f.qty, 1)
			}
		}
	}
	for _, g := range gear {
		add(g.sku, g.name, "gear", g.price, g.qty, 1)
	}
}

func (st *state) newQuote(storeID int, customerID int64, now time.Time, guest bool) *quote {
	st.nextQuote++
	q := &quote{ID: st.nextQuote, StoreID: storeID, CustomerID: customerID, IsActive: true, CreatedAt: now, UpdatedAt: now}
	if guest {
		q.Masked = maskedID()
		st.masks[q.Masked] = q.ID
	}
	st.quotes[q.ID] = q
	return q
}

func (st *state) customerByEmail(email string, websiteID int) *customer {
	for _, c := range st.byEmail[collate(email)] {
		if websiteID == 0 || c.WebsiteID == websiteID {
			return c
		}
	}
	return nil
}

// addCustomer stores c and indexes its email, as Magento's unique key on
// (email, website_id) does, under its collation (see collate). Emails
// never change in the sandbox.
func (st *state) addCustomer(c *customer) {
	st.customers[c.ID] = c
	k := collate(c.Email)
	st.byEmail[k] = append(st.byEmail[k], c)
}

func (st *state) activeQuoteOf(customerID int64) *quote {
	for _, q := range st.quotes {
		if q.CustomerID == customerID && q.IsActive {
			return q
		}
	}
	return nil
}
