package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// This file holds adapters that belong in magentolink and otpstore; they
// live here while those packages are being changed elsewhere. Move them
// there and delete this file.

// magentoConfirmations implements otp.Confirmations by reading the customer
// from Magento. In magentolink.Customers, FindByEmail could answer it from
// the search result it already holds, saving this call.
type magentoConfirmations struct {
	mc interface {
		Customer(ctx context.Context, id int64) (*magento.Customer, error)
	}
}

var _ otp.Confirmations = magentoConfirmations{}

func (m magentoConfirmations) PendingConfirmation(ctx context.Context, customerID int64) (bool, error) {
	cust, err := m.mc.Customer(ctx, customerID)
	if err != nil {
		return false, err
	}
	if cust.ID != customerID {
		return false, errs.E(errs.Unavailable, "Magento answered customer %d with another customer.", customerID)
	}
	return cust.Confirmation != "", nil
}

// familySessions implements otp.Sessions over the refresh token table. It
// belongs in otpstore.MySQL, beside RotateRefresh and RevokeFamily, as a
// prepared statement.
type familySessions struct{ db *sql.DB }

var _ otp.Sessions = familySessions{}

func (f familySessions) SessionActive(ctx context.Context, familyID string, now time.Time) (bool, error) {
	var one int
	err := f.db.QueryRowContext(ctx, `SELECT 1 FROM otp_refresh_tokens
		WHERE family_id = ? AND revoked_at IS NULL AND family_expires_at > ? LIMIT 1`, familyID, now.UTC()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session state: %w", err)
	}
	return true, nil
}
