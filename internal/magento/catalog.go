package magento

import (
	"context"
	"net/http"
	"net/url"
)

// StoreConfigs returns every store view's configuration (currency, locale,
// base URLs).
func (c *Client) StoreConfigs(ctx context.Context) ([]StoreConfig, error) {
	var out []StoreConfig
	err := c.do(ctx, call{method: http.MethodGet, path: "/store/storeConfigs", auth: authAdmin, out: &out})
	return out, err
}

// Product returns a product by SKU.
func (c *Client) Product(ctx context.Context, sku string) (*Product, error) {
	var out Product
	if err := c.do(ctx, call{method: http.MethodGet, path: "/products/" + url.PathEscape(sku), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// SearchProducts runs GET /V1/products with searchCriteria.
func (c *Client) SearchProducts(ctx context.Context, sc SearchCriteria) (*SearchResult[Product], error) {
	var out SearchResult[Product]
	if err := c.do(ctx, call{method: http.MethodGet, path: "/products", query: sc.Query(), auth: authAdmin, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
