package magento_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/magento"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name     string
		tweak    func(*magento.Config)
		wantKeys []string
	}{
		{"defaults with credentials", func(c *magento.Config) { c.AdminUsername, c.AdminPassword = "a", "b" }, nil},
		{"defaults need admin credentials", nil, []string{"admin_username", "admin_password"}},
		{"bad base url", func(c *magento.Config) { c.BaseURL = "shop.example.com"; c.AdminUsername, c.AdminPassword = "a", "b" }, []string{"base_url"}},
		{"base url with /rest", func(c *magento.Config) {
			c.BaseURL = "https://x.test/rest/default"
			c.AdminUsername, c.AdminPassword = "a", "b"
		}, []string{"base_url"}},
		{"store code", func(c *magento.Config) { c.StoreCode = "De Fault"; c.AdminUsername, c.AdminPassword = "a", "b" }, []string{"store_code"}},
		{"limits", func(c *magento.Config) {
			c.Timeout, c.MaxConcurrent, c.ReadRetries = 0, 0, -1
			c.AdminUsername, c.AdminPassword = "a", "b"
		}, []string{"timeout", "max_concurrent", "read_retries"}},
		{"tfa needs secret", func(c *magento.Config) {
			c.AuthMode = magento.AuthAdminTFA
			c.AdminUsername, c.AdminPassword = "a", "b"
		}, []string{"admin_totp_secret"}},
		{"oauth1 needs four secrets", func(c *magento.Config) { c.AuthMode = magento.AuthOAuth1 }, []string{"access_token", "access_token_secret", "consumer_key", "consumer_secret"}},
		{"bearer needs token", func(c *magento.Config) { c.AuthMode = magento.AuthBearerIntegration }, []string{"access_token"}},
		{"unknown mode", func(c *magento.Config) { c.AuthMode = "basic" }, []string{"auth_mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := magento.DefaultConfig()
			if tt.tweak != nil {
				tt.tweak(&c)
			}
			err := c.Validate()
			if tt.wantKeys == nil {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			var p config.Problems
			if !errors.As(err, &p) {
				t.Fatalf("Validate() = %v; want config.Problems", err)
			}
			got := p.Keys()
			slices.Sort(got)
			want := slices.Clone(tt.wantKeys)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Validate() keys = %v; want %v", got, want)
			}
		})
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	c := magento.DefaultConfig()
	c.AdminPassword = "hunter2"
	if s := c.AdminPassword.String(); s == "hunter2" {
		t.Errorf("AdminPassword.String() = %q; want redacted", s)
	}
}

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		amount   float64
		currency string
		want     int64
	}{
		{84.48, "USD", 8448},
		{1.005, "USD", 101},
		{0.1 + 0.2, "USD", 30},
		{-17.205, "USD", -1721},
		{2.5, "JPY", 3},
		{1234, "jpy", 1234},
		{1.2345, "KWD", 1235},
		{0, "EUR", 0},
		{19.99, "EUR", 1999},
	}
	for _, tt := range tests {
		if got := magento.MinorUnits(tt.amount, tt.currency); got != tt.want {
			t.Errorf("MinorUnits(%v, %s) = %d; want %d", tt.amount, tt.currency, got, tt.want)
		}
	}
	amounts := []struct {
		minor    int64
		currency string
		want     float64
	}{{8448, "USD", 84.48}, {-5, "USD", -0.05}, {300, "JPY", 300}, {1235, "KWD", 1.235}}
	for _, tt := range amounts {
		if got := magento.Amount(tt.minor, tt.currency); got != tt.want {
			t.Errorf("Amount(%d, %s) = %v; want %v", tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestSearchCriteriaQuery(t *testing.T) {
	q := magento.Where("quote_id", "eq", "7").And("state", "in", "new,processing").Sort("updated_at", "ASC").Page(20, 2).Query()
	want := map[string]string{
		"searchCriteria[filterGroups][0][filters][0][field]":         "quote_id",
		"searchCriteria[filterGroups][0][filters][0][value]":         "7",
		"searchCriteria[filterGroups][0][filters][0][conditionType]": "eq",
		"searchCriteria[filterGroups][1][filters][0][field]":         "state",
		"searchCriteria[filterGroups][1][filters][0][conditionType]": "in",
		"searchCriteria[sortOrders][0][field]":                       "updated_at",
		"searchCriteria[pageSize]":                                   "20",
		"searchCriteria[currentPage]":                                "2",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("Query()[%s] = %q; want %q", k, got, v)
		}
	}
}
