package magento

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The types below carry Magento's REST field names exactly (see
// data-interfaces.tsv). Amounts are Magento's floats; convert them with
// MinorUnits at the boundary. Fields the schema marks required have no
// omitempty. ExtensionAttributes keep unknown keys as raw JSON.

// Extension holds extension_attributes, whose keys depend on installed modules.
type Extension map[string]json.RawMessage

// Cart is Magento\Quote\Api\Data\CartInterface.
type Cart struct {
	ID                  int64          `json:"id"`
	CreatedAt           string         `json:"created_at,omitempty"`
	UpdatedAt           string         `json:"updated_at,omitempty"`
	ConvertedAt         string         `json:"converted_at,omitempty"`
	IsActive            bool           `json:"is_active"`
	IsVirtual           bool           `json:"is_virtual"`
	Items               []CartItem     `json:"items"`
	ItemsCount          int            `json:"items_count"`
	ItemsQty            float64        `json:"items_qty"`
	Customer            Customer       `json:"customer"`
	BillingAddress      *Address       `json:"billing_address,omitempty"`
	ReservedOrderID     string         `json:"reserved_order_id,omitempty"`
	OrigOrderID         int64          `json:"orig_order_id"`
	Currency            *CartCurrency  `json:"currency,omitempty"`
	CustomerIsGuest     bool           `json:"customer_is_guest"`
	CustomerNote        string         `json:"customer_note,omitempty"`
	CustomerNoteNotify  bool           `json:"customer_note_notify"`
	CustomerTaxClassID  int            `json:"customer_tax_class_id"`
	StoreID             int            `json:"store_id"`
	ExtensionAttributes map[string]any `json:"extension_attributes,omitempty"`
}

// CartCurrency is Magento\Quote\Api\Data\CurrencyInterface.
type CartCurrency struct {
	GlobalCurrencyCode string  `json:"global_currency_code,omitempty"`
	BaseCurrencyCode   string  `json:"base_currency_code,omitempty"`
	StoreCurrencyCode  string  `json:"store_currency_code,omitempty"`
	QuoteCurrencyCode  string  `json:"quote_currency_code,omitempty"`
	StoreToBaseRate    float64 `json:"store_to_base_rate"`
	StoreToQuoteRate   float64 `json:"store_to_quote_rate"`
	BaseToGlobalRate   float64 `json:"base_to_global_rate"`
	BaseToQuoteRate    float64 `json:"base_to_quote_rate"`
}

// CartItem is Magento\Quote\Api\Data\CartItemInterface.
type CartItem struct {
	ItemID      int64   `json:"item_id,omitempty"`
	SKU         string  `json:"sku,omitempty"`
	Qty         float64 `json:"qty"`
	Name        string  `json:"name,omitempty"`
	Price       float64 `json:"price,omitempty"`
	ProductType string  `json:"product_type,omitempty"`
	// QuoteID is the masked id for guest carts and the numeric id otherwise;
	// the schema requires it on every write.
	QuoteID string `json:"quote_id"`
}

// Address is Magento\Quote\Api\Data\AddressInterface (shipping and billing
// addresses of a cart). The schema requires every non-omitempty field.
type Address struct {
	ID                int64    `json:"id,omitempty"`
	Region            string   `json:"region"`
	RegionID          int      `json:"region_id"`
	RegionCode        string   `json:"region_code"`
	CountryID         string   `json:"country_id"`
	Street            []string `json:"street"`
	Company           string   `json:"company,omitempty"`
	Telephone         string   `json:"telephone"`
	Postcode          string   `json:"postcode"`
	City              string   `json:"city"`
	Firstname         string   `json:"firstname"`
	Lastname          string   `json:"lastname"`
	CustomerID        int64    `json:"customer_id,omitempty"`
	Email             string   `json:"email"`
	SameAsBilling     int      `json:"same_as_billing,omitempty"`
	CustomerAddressID int64    `json:"customer_address_id,omitempty"`
	SaveInAddressBook int      `json:"save_in_address_book,omitempty"`
}

// Totals is Magento\Quote\Api\Data\TotalsInterface.
type Totals struct {
	GrandTotal                 float64        `json:"grand_total"`
	BaseGrandTotal             float64        `json:"base_grand_total"`
	Subtotal                   float64        `json:"subtotal"`
	BaseSubtotal               float64        `json:"base_subtotal"`
	DiscountAmount             float64        `json:"discount_amount"`
	BaseDiscountAmount         float64        `json:"base_discount_amount"`
	SubtotalWithDiscount       float64        `json:"subtotal_with_discount"`
	BaseSubtotalWithDiscount   float64        `json:"base_subtotal_with_discount"`
	ShippingAmount             float64        `json:"shipping_amount"`
	BaseShippingAmount         float64        `json:"base_shipping_amount"`
	ShippingDiscountAmount     float64        `json:"shipping_discount_amount"`
	BaseShippingDiscountAmount float64        `json:"base_shipping_discount_amount"`
	TaxAmount                  float64        `json:"tax_amount"`
	BaseTaxAmount              float64        `json:"base_tax_amount"`
	WeeeTaxAppliedAmount       float64        `json:"weee_tax_applied_amount"`
	ShippingTaxAmount          float64        `json:"shipping_tax_amount"`
	BaseShippingTaxAmount      float64        `json:"base_shipping_tax_amount"`
	SubtotalInclTax            float64        `json:"subtotal_incl_tax"`
	BaseSubtotalInclTax        float64        `json:"base_subtotal_incl_tax"`
	ShippingInclTax            float64        `json:"shipping_incl_tax"`
	BaseShippingInclTax        float64        `json:"base_shipping_incl_tax"`
	BaseCurrencyCode           string         `json:"base_currency_code"`
	QuoteCurrencyCode          string         `json:"quote_currency_code"`
	CouponCode                 string         `json:"coupon_code,omitempty"`
	ItemsQty                   int            `json:"items_qty"`
	Items                      []TotalsItem   `json:"items"`
	TotalSegments              []TotalSegment `json:"total_segments"`
}

// TotalsItem is Magento\Quote\Api\Data\TotalsItemInterface.
type TotalsItem struct {
	ItemID               int64   `json:"item_id"`
	Price                float64 `json:"price"`
	BasePrice            float64 `json:"base_price"`
	Qty                  float64 `json:"qty"`
	RowTotal             float64 `json:"row_total"`
	BaseRowTotal         float64 `json:"base_row_total"`
	RowTotalWithDiscount float64 `json:"row_total_with_discount"`
	TaxAmount            float64 `json:"tax_amount"`
	BaseTaxAmount        float64 `json:"base_tax_amount"`
	TaxPercent           float64 `json:"tax_percent"`
	DiscountAmount       float64 `json:"discount_amount"`
	BaseDiscountAmount   float64 `json:"base_discount_amount"`
	DiscountPercent      float64 `json:"discount_percent"`
	PriceInclTax         float64 `json:"price_incl_tax"`
	BasePriceInclTax     float64 `json:"base_price_incl_tax"`
	RowTotalInclTax      float64 `json:"row_total_incl_tax"`
	BaseRowTotalInclTax  float64 `json:"base_row_total_incl_tax"`
	// Options is a JSON-encoded string, as Magento serialises it.
	Options              string  `json:"options"`
	WeeeTaxAppliedAmount float64 `json:"weee_tax_applied_amount"`
	WeeeTaxApplied       string  `json:"weee_tax_applied"`
	Name                 string  `json:"name,omitempty"`
}

// TotalSegment is Magento\Quote\Api\Data\TotalSegmentInterface.
type TotalSegment struct {
	Code  string  `json:"code"`
	Title string  `json:"title,omitempty"`
	Value float64 `json:"value"`
	Area  string  `json:"area,omitempty"`
}

// ShippingMethod is Magento\Quote\Api\Data\ShippingMethodInterface.
type ShippingMethod struct {
	CarrierCode  string  `json:"carrier_code"`
	MethodCode   string  `json:"method_code"`
	CarrierTitle string  `json:"carrier_title,omitempty"`
	MethodTitle  string  `json:"method_title,omitempty"`
	Amount       float64 `json:"amount"`
	BaseAmount   float64 `json:"base_amount"`
	Available    bool    `json:"available"`
	ErrorMessage string  `json:"error_message"`
	PriceExclTax float64 `json:"price_excl_tax"`
	PriceInclTax float64 `json:"price_incl_tax"`
}

// ShippingInformation is Magento\Checkout\Api\Data\ShippingInformationInterface.
type ShippingInformation struct {
	ShippingAddress     Address  `json:"shipping_address"`
	BillingAddress      *Address `json:"billing_address,omitempty"`
	ShippingMethodCode  string   `json:"shipping_method_code"`
	ShippingCarrierCode string   `json:"shipping_carrier_code"`
}

// PaymentMethod is Magento\Quote\Api\Data\PaymentMethodInterface.
type PaymentMethod struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

// PaymentDetails is Magento\Checkout\Api\Data\PaymentDetailsInterface.
type PaymentDetails struct {
	PaymentMethods []PaymentMethod `json:"payment_methods"`
	Totals         Totals          `json:"totals"`
}

// Payment is Magento\Quote\Api\Data\PaymentInterface.
type Payment struct {
	PONumber       string   `json:"po_number,omitempty"`
	Method         string   `json:"method"`
	AdditionalData []string `json:"additional_data,omitempty"`
}

// Customer is Magento\Customer\Api\Data\CustomerInterface.
type Customer struct {
	ID              int64  `json:"id,omitempty"`
	GroupID         int    `json:"group_id,omitempty"`
	DefaultBilling  string `json:"default_billing,omitempty"`
	DefaultShipping string `json:"default_shipping,omitempty"`
	CreatedAt       string `json:"created_at,omitempty"`
	UpdatedAt       string `json:"updated_at,omitempty"`
	CreatedIn       string `json:"created_in,omitempty"`
	Email           string `json:"email"`
	Firstname       string `json:"firstname"`
	Lastname        string `json:"lastname"`
	StoreID         int    `json:"store_id,omitempty"`
	WebsiteID       int    `json:"website_id,omitempty"`
	// Confirmation is the key of an account still waiting for its email
	// confirmation (customer/create_account/confirm); "" once confirmed or
	// when none was required.
	Confirmation        string             `json:"confirmation,omitempty"`
	Addresses           []CustomerAddress  `json:"addresses,omitempty"`
	ExtensionAttributes *CustomerExtension `json:"extension_attributes,omitempty"`
}

// CustomerExtension holds the customer extension attributes this platform
// uses. AssistanceAllowed is Magento_LoginAsCustomerAssistance's opt-in:
// 2 allows remote shopping assistance, 1 refuses it.
type CustomerExtension struct {
	IsSubscribed      *bool `json:"is_subscribed,omitempty"`
	AssistanceAllowed int   `json:"assistance_allowed,omitempty"`
}

// Values of CustomerExtension.AssistanceAllowed.
const (
	AssistanceDenied  = 1
	AssistanceAllowed = 2
)

// CustomerAddress is Magento\Customer\Api\Data\AddressInterface.
type CustomerAddress struct {
	ID              int64    `json:"id,omitempty"`
	CustomerID      int64    `json:"customer_id,omitempty"`
	RegionID        int      `json:"region_id,omitempty"`
	CountryID       string   `json:"country_id,omitempty"`
	Street          []string `json:"street,omitempty"`
	Telephone       string   `json:"telephone,omitempty"`
	Postcode        string   `json:"postcode,omitempty"`
	City            string   `json:"city,omitempty"`
	Firstname       string   `json:"firstname,omitempty"`
	Lastname        string   `json:"lastname,omitempty"`
	DefaultShipping bool     `json:"default_shipping,omitempty"`
	DefaultBilling  bool     `json:"default_billing,omitempty"`
}

// Order is Magento\Sales\Api\Data\OrderInterface (the fields this platform reads).
type Order struct {
	EntityID             int64                `json:"entity_id,omitempty"`
	IncrementID          string               `json:"increment_id,omitempty"`
	QuoteID              int64                `json:"quote_id,omitempty"`
	State                string               `json:"state,omitempty"`
	Status               string               `json:"status,omitempty"`
	StoreID              int                  `json:"store_id,omitempty"`
	CreatedAt            string               `json:"created_at,omitempty"`
	UpdatedAt            string               `json:"updated_at,omitempty"`
	CustomerEmail        string               `json:"customer_email"`
	CustomerFirstname    string               `json:"customer_firstname,omitempty"`
	CustomerLastname     string               `json:"customer_lastname,omitempty"`
	CustomerID           int64                `json:"customer_id,omitempty"`
	CustomerIsGuest      int                  `json:"customer_is_guest"`
	CouponCode           string               `json:"coupon_code,omitempty"`
	BaseCurrencyCode     string               `json:"base_currency_code,omitempty"`
	OrderCurrencyCode    string               `json:"order_currency_code,omitempty"`
	GrandTotal           float64              `json:"grand_total"`
	BaseGrandTotal       float64              `json:"base_grand_total"`
	Subtotal             float64              `json:"subtotal"`
	BaseSubtotal         float64              `json:"base_subtotal"`
	DiscountAmount       float64              `json:"discount_amount"`
	ShippingAmount       float64              `json:"shipping_amount"`
	ShippingDescription  string               `json:"shipping_description,omitempty"`
	TaxAmount            float64              `json:"tax_amount"`
	TotalDue             float64              `json:"total_due"`
	TotalPaid            float64              `json:"total_paid"`
	TotalInvoiced        float64              `json:"total_invoiced"`
	BaseTotalInvoiced    float64              `json:"base_total_invoiced"`
	TotalRefunded        float64              `json:"total_refunded"`
	BaseTotalRefunded    float64              `json:"base_total_refunded"`
	TotalOfflineRefunded float64              `json:"total_offline_refunded"`
	TotalQtyOrdered      float64              `json:"total_qty_ordered"`
	TotalItemCount       int                  `json:"total_item_count"`
	Items                []OrderItem          `json:"items"`
	BillingAddress       *OrderAddress        `json:"billing_address,omitempty"`
	Payment              *OrderPayment        `json:"payment,omitempty"`
	StatusHistories      []OrderStatusHistory `json:"status_histories,omitempty"`
	ExtensionAttributes  Extension            `json:"extension_attributes,omitempty"`
}

// OrderItem is Magento\Sales\Api\Data\OrderItemInterface.
type OrderItem struct {
	ItemID         int64   `json:"item_id,omitempty"`
	OrderID        int64   `json:"order_id,omitempty"`
	QuoteItemID    int64   `json:"quote_item_id,omitempty"`
	SKU            string  `json:"sku"`
	Name           string  `json:"name,omitempty"`
	ProductID      int64   `json:"product_id,omitempty"`
	ProductType    string  `json:"product_type,omitempty"`
	Price          float64 `json:"price"`
	BasePrice      float64 `json:"base_price"`
	PriceInclTax   float64 `json:"price_incl_tax"`
	QtyOrdered     float64 `json:"qty_ordered"`
	QtyInvoiced    float64 `json:"qty_invoiced"`
	QtyRefunded    float64 `json:"qty_refunded"`
	RowTotal       float64 `json:"row_total"`
	BaseRowTotal   float64 `json:"base_row_total"`
	TaxAmount      float64 `json:"tax_amount"`
	TaxPercent     float64 `json:"tax_percent"`
	DiscountAmount float64 `json:"discount_amount"`
	AmountRefunded float64 `json:"amount_refunded"`
}

// OrderAddress is Magento\Sales\Api\Data\OrderAddressInterface.
type OrderAddress struct {
	AddressType string   `json:"address_type"`
	City        string   `json:"city"`
	CountryID   string   `json:"country_id"`
	Email       string   `json:"email,omitempty"`
	EntityID    int64    `json:"entity_id,omitempty"`
	Firstname   string   `json:"firstname"`
	Lastname    string   `json:"lastname"`
	ParentID    int64    `json:"parent_id,omitempty"`
	Postcode    string   `json:"postcode"`
	Region      string   `json:"region,omitempty"`
	RegionCode  string   `json:"region_code,omitempty"`
	RegionID    int      `json:"region_id,omitempty"`
	Street      []string `json:"street,omitempty"`
	Telephone   string   `json:"telephone"`
}

// OrderPayment is Magento\Sales\Api\Data\OrderPaymentInterface. Magento sends
// null for the required account_status and cc_last4 of offline methods.
type OrderPayment struct {
	AccountStatus         string   `json:"account_status"`
	AdditionalInformation []string `json:"additional_information"`
	CcLast4               string   `json:"cc_last4"`
	Method                string   `json:"method"`
	EntityID              int64    `json:"entity_id,omitempty"`
	ParentID              int64    `json:"parent_id,omitempty"`
	PONumber              string   `json:"po_number,omitempty"`
	AmountOrdered         float64  `json:"amount_ordered"`
	AmountPaid            float64  `json:"amount_paid"`
	AmountRefunded        float64  `json:"amount_refunded"`
	LastTransID           string   `json:"last_trans_id,omitempty"`
}

// OrderStatusHistory is Magento\Sales\Api\Data\OrderStatusHistoryInterface.
type OrderStatusHistory struct {
	Comment            string `json:"comment"`
	CreatedAt          string `json:"created_at,omitempty"`
	EntityID           int64  `json:"entity_id,omitempty"`
	EntityName         string `json:"entity_name,omitempty"`
	IsCustomerNotified int    `json:"is_customer_notified"`
	IsVisibleOnFront   int    `json:"is_visible_on_front"`
	ParentID           int64  `json:"parent_id"`
	Status             string `json:"status,omitempty"`
}

// CreditMemo is Magento\Sales\Api\Data\CreditmemoInterface.
type CreditMemo struct {
	EntityID           int64            `json:"entity_id,omitempty"`
	IncrementID        string           `json:"increment_id,omitempty"`
	OrderID            int64            `json:"order_id"`
	InvoiceID          int64            `json:"invoice_id,omitempty"`
	State              int              `json:"state,omitempty"`
	CreatedAt          string           `json:"created_at,omitempty"`
	UpdatedAt          string           `json:"updated_at,omitempty"`
	GrandTotal         float64          `json:"grand_total"`
	BaseGrandTotal     float64          `json:"base_grand_total"`
	Subtotal           float64          `json:"subtotal"`
	ShippingAmount     float64          `json:"shipping_amount"`
	TaxAmount          float64          `json:"tax_amount"`
	AdjustmentPositive float64          `json:"adjustment_positive"`
	AdjustmentNegative float64          `json:"adjustment_negative"`
	OrderCurrencyCode  string           `json:"order_currency_code,omitempty"`
	BaseCurrencyCode   string           `json:"base_currency_code,omitempty"`
	TransactionID      string           `json:"transaction_id,omitempty"`
	Items              []CreditMemoItem `json:"items"`
}

// Invoice is Magento\Sales\Api\Data\InvoiceInterface (the fields this
// platform reads). State is 1 open, 2 paid, 3 canceled.
type Invoice struct {
	EntityID          int64   `json:"entity_id,omitempty"`
	IncrementID       string  `json:"increment_id,omitempty"`
	OrderID           int64   `json:"order_id"`
	State             int     `json:"state,omitempty"`
	CreatedAt         string  `json:"created_at,omitempty"`
	UpdatedAt         string  `json:"updated_at,omitempty"`
	GrandTotal        float64 `json:"grand_total"`
	BaseGrandTotal    float64 `json:"base_grand_total"`
	OrderCurrencyCode string  `json:"order_currency_code,omitempty"`
	BaseCurrencyCode  string  `json:"base_currency_code,omitempty"`
}

// Invoice states.
const (
	InvoiceOpen     = 1
	InvoicePaid     = 2
	InvoiceCanceled = 3
)

// CreditMemoItem is Magento\Sales\Api\Data\CreditmemoItemInterface.
type CreditMemoItem struct {
	BaseCost    float64 `json:"base_cost"`
	BasePrice   float64 `json:"base_price"`
	EntityID    int64   `json:"entity_id"`
	OrderItemID int64   `json:"order_item_id"`
	Qty         float64 `json:"qty"`
	ParentID    int64   `json:"parent_id,omitempty"`
	SKU         string  `json:"sku,omitempty"`
	Name        string  `json:"name,omitempty"`
	Price       float64 `json:"price"`
	RowTotal    float64 `json:"row_total"`
}

// ItemQty names an order item and a quantity, for invoices and credit memos
// (sales-data-invoice-item-creation-interface and its credit-memo twin).
type ItemQty struct {
	OrderItemID int64   `json:"order_item_id"`
	Qty         float64 `json:"qty"`
}

// InvoiceRequest is the body of POST /V1/order/{orderId}/invoice. For an
// order whose payment a gateway already captured use Capture false.
type InvoiceRequest struct {
	Capture       bool             `json:"capture"`
	Notify        bool             `json:"notify"`
	Items         []ItemQty        `json:"items,omitempty"`
	AppendComment bool             `json:"appendComment,omitempty"`
	Comment       *CreationComment `json:"comment,omitempty"`
}

// CreationComment is a comment attached to a new invoice or credit memo.
type CreationComment struct {
	Comment          string `json:"comment"`
	IsVisibleOnFront int    `json:"is_visible_on_front"`
}

// RefundRequest is the body of POST /V1/order/{orderId}/refund (an offline
// refund creating a credit memo).
type RefundRequest struct {
	Items         []ItemQty        `json:"items,omitempty"`
	Notify        bool             `json:"notify"`
	AppendComment bool             `json:"appendComment,omitempty"`
	Comment       *CreationComment `json:"comment,omitempty"`
	Arguments     *RefundArguments `json:"arguments,omitempty"`
}

// RefundArguments is sales-data-creditmemo-creation-arguments-interface.
type RefundArguments struct {
	ShippingAmount     *float64 `json:"shipping_amount,omitempty"`
	AdjustmentPositive float64  `json:"adjustment_positive,omitempty"`
	AdjustmentNegative float64  `json:"adjustment_negative,omitempty"`
}

// StoreConfig is Magento\Store\Api\Data\StoreConfigInterface.
type StoreConfig struct {
	ID                         int    `json:"id"`
	Code                       string `json:"code"`
	WebsiteID                  int    `json:"website_id"`
	Locale                     string `json:"locale"`
	BaseCurrencyCode           string `json:"base_currency_code"`
	DefaultDisplayCurrencyCode string `json:"default_display_currency_code"`
	Timezone                   string `json:"timezone"`
	WeightUnit                 string `json:"weight_unit"`
	BaseURL                    string `json:"base_url"`
	BaseLinkURL                string `json:"base_link_url"`
	BaseStaticURL              string `json:"base_static_url"`
	BaseMediaURL               string `json:"base_media_url"`
	SecureBaseURL              string `json:"secure_base_url"`
	SecureBaseLinkURL          string `json:"secure_base_link_url"`
	SecureBaseStaticURL        string `json:"secure_base_static_url"`
	SecureBaseMediaURL         string `json:"secure_base_media_url"`
}

// Product is Magento\Catalog\Api\Data\ProductInterface.
type Product struct {
	ID               int64             `json:"id,omitempty"`
	SKU              string            `json:"sku"`
	Name             string            `json:"name,omitempty"`
	AttributeSetID   int               `json:"attribute_set_id,omitempty"`
	Price            float64           `json:"price"`
	Status           int               `json:"status,omitempty"`
	Visibility       int               `json:"visibility,omitempty"`
	TypeID           string            `json:"type_id,omitempty"`
	CreatedAt        string            `json:"created_at,omitempty"`
	UpdatedAt        string            `json:"updated_at,omitempty"`
	Weight           float64           `json:"weight,omitempty"`
	CustomAttributes []CustomAttribute `json:"custom_attributes,omitempty"`
}

// CustomAttribute is framework-attribute-interface.
type CustomAttribute struct {
	AttributeCode string `json:"attribute_code"`
	Value         any    `json:"value"`
}

// SearchResult is Magento's {items, search_criteria, total_count} envelope.
type SearchResult[T any] struct {
	Items          []T                `json:"items"`
	SearchCriteria SearchCriteriaEcho `json:"search_criteria"`
	TotalCount     int                `json:"total_count"`
}

// SearchCriteriaEcho is the search criteria Magento echoes in a result.
type SearchCriteriaEcho struct {
	FilterGroups []FilterGroupEcho `json:"filter_groups"`
	PageSize     int               `json:"page_size,omitempty"`
	CurrentPage  int               `json:"current_page,omitempty"`
}

// FilterGroupEcho is framework-search-filter-group.
type FilterGroupEcho struct {
	Filters []FilterEcho `json:"filters"`
}

// FilterEcho is framework-filter.
type FilterEcho struct {
	Field         string `json:"field"`
	Value         string `json:"value"`
	ConditionType string `json:"condition_type,omitempty"`
}

// flexID decodes an id Magento serialises either as a JSON number or as a
// quoted number (the place-order routes return "123").
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if err2 := json.Unmarshal(b, &s); err2 != nil {
			return fmt.Errorf("id %s: %w", b, err)
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return fmt.Errorf("id %s: %w", b, err)
	}
	*f = flexID(v)
	return nil
}

// ShippingAssignment is sales-data-shipping-assignment-interface, found in an
// order's extension_attributes.shipping_assignments.
type ShippingAssignment struct {
	Shipping OrderShipping `json:"shipping"`
	Items    []OrderItem   `json:"items"`
}

// OrderShipping is sales-data-shipping-interface.
type OrderShipping struct {
	Address *OrderAddress  `json:"address,omitempty"`
	Method  string         `json:"method,omitempty"`
	Total   *ShippingTotal `json:"total,omitempty"`
}

// ShippingTotal is sales-data-total-interface (the fields this platform reads).
type ShippingTotal struct {
	ShippingAmount      float64 `json:"shipping_amount"`
	BaseShippingAmount  float64 `json:"base_shipping_amount"`
	ShippingInclTax     float64 `json:"shipping_incl_tax"`
	BaseShippingInclTax float64 `json:"base_shipping_incl_tax"`
}

// ShippingAssignments decodes extension_attributes.shipping_assignments; it
// returns nil when the order has none (virtual orders).
func (o *Order) ShippingAssignments() ([]ShippingAssignment, error) {
	raw, ok := o.ExtensionAttributes["shipping_assignments"]
	if !ok {
		return nil, nil
	}
	var out []ShippingAssignment
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("shipping_assignments: %w", err)
	}
	return out, nil
}
