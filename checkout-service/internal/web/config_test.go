package web

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/config"
)

// section wraps Config as a service would, under the key "web".
type section struct {
	Web Config `mapstructure:"web"`
}

func (s *section) Validate() error {
	var p config.Problems
	p.Merge("web", s.Web.Validate())
	return p.Err()
}

func TestConfigLoadsFromFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `web:
  cookie_name: shopcheckout
  allowed_return_origins: ["https://www.shop.example", "https://shop.example"]
  cart_url: https://www.shop.example/checkout/cart/
  locale: en-IN
  default_country: IN
  widget: razorpay
  razorpay_key_id: rzp_live_x
  csp_extra:
    script_src: ["https://cdn.razorpay.com"]
  poll_interval: 3s
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &section{Web: DefaultConfig()}
	env := map[string]string{"CHECKOUT_WEB_STORE_NAME": "Chai & Co"}
	if err := config.Load(s, "CHECKOUT", path, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("Load: %v", err)
	}
	w := s.Web
	if w.CookieName != "shopcheckout" || w.Locale != "en-IN" || w.Widget != WidgetRazorpay || w.StoreName != "Chai & Co" ||
		w.PollInterval != 3*time.Second || !slices.Equal(w.CSPExtra.ScriptSrc, []string{"https://cdn.razorpay.com"}) ||
		len(w.AllowedReturnOrigins) != 2 {
		t.Errorf("loaded %+v", w)
	}
	bad := &section{Web: DefaultConfig()}
	env = map[string]string{"CHECKOUT_WEB_WIDGET": "bitcoin"}
	err := config.Load(bad, "CHECKOUT", "", func(k string) string { return env[k] })
	if err == nil || !slices.Contains(err.(config.Problems).Keys(), "web.widget") {
		t.Errorf("Load with a bad widget = %v; want web.widget named", err)
	}
}
