// Package magentolink adapts the platform's Magento client to otp.Customers
// and caches Magento customer tokens in Redis until shortly before they
// expire, so every instance reuses them.
package magentolink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/magefleet/platform/internal/cache"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// Config is the "magento_tokens" section.
type Config struct {
	// Lifetime is Magento's customer token lifetime
	// (oauth/access_token_lifetime/customer, 1 h by default); cached tokens
	// are replaced RenewBefore its end.
	Lifetime    time.Duration `mapstructure:"lifetime" desc:"lifetime of Magento customer tokens as set in the store (oauth/access_token_lifetime/customer); at least 1m"`
	RenewBefore time.Duration `mapstructure:"renew_before" desc:"how long before a cached Magento customer token expires it is replaced; less than lifetime"`
}

// DefaultConfig matches Magento's defaults.
func DefaultConfig() Config { return Config{Lifetime: time.Hour, RenewBefore: 5 * time.Minute} }

// Validate reports bad settings.
func (c Config) Validate() error {
	var p config.Problems
	if c.Lifetime < time.Minute {
		p.Add("lifetime", "must be at least 1m")
	}
	if c.RenewBefore < 0 || c.RenewBefore >= c.Lifetime {
		p.Add("renew_before", "must be between 0 and lifetime")
	}
	return p.Err()
}

// Client is the part of *magento.Client this package uses.
type Client interface {
	CustomerByEmail(ctx context.Context, email string, websiteID int) (*magento.Customer, error)
	Customer(ctx context.Context, id int64) (*magento.Customer, error)
	CreateCustomer(ctx context.Context, cust magento.Customer, password string) (*magento.Customer, error)
	GenerateCustomerTokenAsAdmin(ctx context.Context, email string) (string, error)
}

var _ Client = (*magento.Client)(nil)

// Customers implements otp.Customers. It is safe for concurrent use.
type Customers struct {
	mc        Client
	rdb       redis.UniversalClient
	keys      cache.Keys
	cfg       Config
	websiteID int
	sf        singleflight.Group
}

var (
	_ otp.Customers     = (*Customers)(nil)
	_ otp.Confirmations = (*Customers)(nil)
)

// New returns the adapter.
func New(mc Client, rdb redis.UniversalClient, prefix string, cfg Config, websiteID int) *Customers {
	return &Customers{mc: mc, rdb: rdb, keys: cache.NewKeys(prefix), cfg: cfg, websiteID: websiteID}
}

// FindByEmail implements otp.Customers.
func (c *Customers) FindByEmail(ctx context.Context, email string) (int64, error) {
	cust, err := c.mc.CustomerByEmail(ctx, email, c.websiteID)
	if err != nil {
		return 0, err
	}
	return cust.ID, nil
}

// Create implements otp.Customers. The customer allows remote shopping
// assistance (assistance_allowed = 2) so generateCustomerTokenAsAdmin works
// for them, and has no password: they log in by code.
func (c *Customers) Create(ctx context.Context, email, first, last string) (int64, error) {
	cust, err := c.mc.CreateCustomer(ctx, magento.Customer{
		Email: email, Firstname: first, Lastname: last, WebsiteID: c.websiteID,
		ExtensionAttributes: &magento.CustomerExtension{AssistanceAllowed: magento.AssistanceAllowed},
	}, "")
	if err != nil {
		return 0, err
	}
	if cust.ID == 0 {
		return 0, errs.E(errs.Internal, "magento created a customer without an id")
	}
	return cust.ID, nil
}

// PendingConfirmation implements otp.Confirmations: whether the customer
// has yet to confirm their email address (Magento's confirmation key is set
// while customer/create_account/confirm holds the account back).
func (c *Customers) PendingConfirmation(ctx context.Context, customerID int64) (bool, error) {
	cust, err := c.mc.Customer(ctx, customerID)
	if err != nil {
		return false, err
	}
	if cust.ID != customerID {
		return false, errs.E(errs.Unavailable, "Magento answered customer %d with another customer.", customerID)
	}
	return cust.Confirmation != "", nil
}

func (c *Customers) tokenKey(customerID int64) string {
	return c.keys.Key("mtok", strconv.FormatInt(customerID, 10))
}

// CustomerToken implements otp.Customers: a cached token, or a new one from
// generateCustomerTokenAsAdmin (one call per customer at a time), with the
// time until which it may be handed out.
func (c *Customers) CustomerToken(ctx context.Context, customerID int64, email string) (string, time.Time, error) {
	key := c.tokenKey(customerID)
	tok, until, ok, err := c.cached(ctx, key)
	if err != nil {
		return "", time.Time{}, err
	}
	if ok {
		return tok, until, nil
	}
	return c.mint(ctx, key, customerID, email, true)
}

// FirstToken implements otp.Customers: a customer created moments ago has
// no cached token, so it mints one without reading the cache.
func (c *Customers) FirstToken(ctx context.Context, customerID int64, email string) (string, time.Time, error) {
	return c.mint(ctx, c.tokenKey(customerID), customerID, email, false)
}

// mint runs one generateCustomerTokenAsAdmin per customer at a time and
// caches its token. recheck (an existing customer) looks in the cache again
// first, as a flight that finished between the caller's read and this one
// has cached a token, and reads the customer's email by id before minting:
// generateCustomerTokenAsAdmin names the customer by email, and the email
// recorded at link time goes stale when the customer changes it in Magento
// (and another customer may have taken the old one since).
func (c *Customers) mint(ctx context.Context, key string, customerID int64, email string, recheck bool) (string, time.Time, error) {
	keep := c.cfg.Lifetime - c.cfg.RenewBefore
	v, err, _ := c.sf.Do(key, func() (any, error) {
		if recheck {
			if tok, until, ok, _ := c.cached(ctx, key); ok {
				return minted{tok, until}, nil
			}
			cust, err := c.mc.Customer(ctx, customerID)
			if err != nil {
				return nil, fmt.Errorf("magento customer %d: %w", customerID, err)
			}
			if cust.ID != customerID || cust.Email == "" {
				return nil, errs.E(errs.Unavailable, "Magento answered customer %d with another customer.", customerID)
			}
			email = cust.Email
		}
		tok, err := c.mc.GenerateCustomerTokenAsAdmin(ctx, email)
		if err != nil {
			return nil, err
		}
		// NX: when another instance cached one meanwhile, hand out the
		// same token as it does (ours stays valid but unused).
		ok, err := c.rdb.SetNX(ctx, key, tok, keep).Result()
		if err != nil {
			return nil, fmt.Errorf("magento token cache: %w", err)
		}
		if !ok {
			if other, until, found, _ := c.cached(ctx, key); found {
				return minted{other, until}, nil
			}
			if err := c.rdb.Set(ctx, key, tok, keep).Err(); err != nil {
				return nil, fmt.Errorf("magento token cache: %w", err)
			}
		}
		return minted{tok, time.Now().Add(keep)}, nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	m := v.(minted)
	return m.token, m.until, nil
}

// minted is a flight's result: a token and until when it may be handed out.
type minted struct {
	token string
	until time.Time
}

// cached returns the token under key when it has more than a second left;
// ok is false when there is none (or it is about to expire).
func (c *Customers) cached(ctx context.Context, key string) (tok string, until time.Time, ok bool, err error) {
	var (
		get *redis.StringCmd
		ttl *redis.DurationCmd
	)
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, key), p.PTTL(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", time.Time{}, false, fmt.Errorf("magento token cache: %w", err)
	}
	if err != nil || ttl.Val() <= time.Second {
		return "", time.Time{}, false, nil
	}
	return get.Val(), time.Now().Add(ttl.Val()), true, nil
}
