package magentosandbox

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/magefleet/platform/internal/magento"
)

var categoryIDs = map[string]string{"gear": "3", "tops": "12", "bottoms": "13"}

func productJSON(p *product) magento.Product {
	return magento.Product{
		ID: p.ID, SKU: p.SKU, Name: p.Name, AttributeSetID: 4, Price: p.Price, Status: 1, Visibility: 4,
		TypeID: "simple", CreatedAt: ymd(p.CreatedAt), UpdatedAt: ymd(p.CreatedAt), Weight: p.Weight,
		CustomAttributes: []magento.CustomAttribute{
			{AttributeCode: "tax_class_id", Value: "2"},
			{AttributeCode: "category_id", Value: categoryIDs[p.Category]},
			{AttributeCode: "quantity", Value: strconv.FormatFloat(p.Qty, 'f', -1, 64)},
		},
	}
}

func (s *Sandbox) getProduct(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Catalog::products"); err != nil {
		return err
	}
	p, ok := s.st.products[r.PathValue("sku")]
	if !ok {
		return errf(http.StatusNotFound, msgProductMissing, nil)
	}
	writeJSON(w, http.StatusOK, productJSON(p))
	return nil
}

func (s *Sandbox) searchProducts(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Catalog::products"); err != nil {
		return err
	}
	c, err := parseCriteria(r.URL.Query())
	if err != nil {
		return err
	}
	all := make([]*product, 0, len(s.st.productOrder))
	for _, sku := range s.st.productOrder {
		all = append(all, s.st.products[sku])
	}
	items, total := apply(c, all, func(p *product, f map[string]string) {
		for k, v := range fieldsOf(productJSON(p)) {
			f[k] = v
		}
		f["category_id"] = categoryIDs[p.Category]
		f["qty"] = strconv.FormatFloat(p.Qty, 'f', -1, 64)
	})
	out := make([]magento.Product, len(items))
	for i, p := range items {
		out[i] = productJSON(p)
	}
	writeJSON(w, http.StatusOK, magento.SearchResult[magento.Product]{Items: out, SearchCriteria: c.echo(), TotalCount: total})
	return nil
}

func (s *Sandbox) storeConfigs(w http.ResponseWriter, r *http.Request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.authAdmin(r, "Magento_Backend::store"); err != nil {
		return err
	}
	base := "http://" + r.Host + "/"
	codes := make([]string, 0, len(s.stores))
	for code := range s.stores {
		codes = append(codes, code)
	}
	sort.Slice(codes, func(i, j int) bool { return s.stores[codes[i]] < s.stores[codes[j]] })
	out := make([]magento.StoreConfig, 0, len(codes))
	for _, code := range codes {
		out = append(out, magento.StoreConfig{
			ID: s.stores[code], Code: code, WebsiteID: 1, Locale: "en_US", BaseCurrencyCode: "USD",
			DefaultDisplayCurrencyCode: "USD", Timezone: "America/Los_Angeles", WeightUnit: "lbs",
			BaseURL: base, BaseLinkURL: base, BaseStaticURL: base + "static/", BaseMediaURL: base + "media/",
			SecureBaseURL: base, SecureBaseLinkURL: base, SecureBaseStaticURL: base + "static/", SecureBaseMediaURL: base + "media/",
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
