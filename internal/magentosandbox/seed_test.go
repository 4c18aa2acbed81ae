package magentosandbox_test

import (
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/magentosandbox"
)

func TestSeedCatalog(t *testing.T) {
	sb := magentosandbox.New(magentosandbox.Options{})
	skus := sb.SKUs()
	if len(skus) < 50 {
		t.Errorf("seeded %d SKUs; want at least 50", len(skus))
	}
	families := map[string]int{}
	for _, s := range skus {
		families[strings.SplitN(s, "-", 2)[0]]++
	}
	for _, want := range []string{"MH01", "WS03", "MP01", "WSH01", "24"} {
		if families[want] == 0 {
			t.Errorf("no SKU of family %s", want)
		}
	}
	for _, tt := range []struct {
		sku string
		qty float64
	}{{"MH01-XS-Black", 100}, {"24-WG01", 3}, {"24-UG01", 0}} {
		if q, ok := sb.Stock(tt.sku); !ok || q != tt.qty {
			t.Errorf("Stock(%s) = %v, %v; want %v", tt.sku, q, ok, tt.qty)
		}
	}
	if !strings.Contains(magentosandbox.Seed, "admin / admin123") {
		t.Errorf("Seed does not document the admin user")
	}
	t.Logf("%d SKUs", len(skus))
}
