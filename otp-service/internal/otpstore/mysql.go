package otpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

// MySQL is otp.Identities over MySQL with prepared statements for the hot
// path. New refresh tokens from concurrent logins are written together in
// multi-row INSERTs (one round trip and one log flush for a batch); each
// caller still returns only once its row is committed. Build it with
// NewMySQL and Close it after the last use; it is safe for concurrent use.
type MySQL struct {
	db             *sql.DB
	findIdentity   *sql.Stmt
	createIdentity *sql.Stmt
	inserts        chan insertReq
	wg             sync.WaitGroup
	stmtMu         sync.Mutex
	batchStmts     map[int]*sql.Stmt
}

type insertReq struct {
	t    otp.RefreshToken
	done chan error
}

const (
	insertWorkers = 4
	maxBatch      = 64
)

var (
	_ otp.Identities = (*MySQL)(nil)
	_ otp.Sessions   = (*MySQL)(nil)
)

// NewMySQL prepares the hot statements on db.
func NewMySQL(ctx context.Context, db *sql.DB) (*MySQL, error) {
	m := &MySQL{db: db, inserts: make(chan insertReq, 1024), batchStmts: map[int]*sql.Stmt{}}
	var err error
	if m.findIdentity, err = db.PrepareContext(ctx, `SELECT id, magento_customer_id, magento_email, created_at
		FROM otp_identities WHERE kind = ? AND value = ?`); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if m.createIdentity, err = db.PrepareContext(ctx, `INSERT INTO otp_identities (kind, value, magento_customer_id, magento_email, created_at)
		VALUES (?, ?, ?, ?, ?)`); err != nil {
		m.findIdentity.Close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	for range insertWorkers {
		m.wg.Add(1)
		go m.insertLoop()
	}
	return m, nil
}

// Close stops the insert workers and releases the prepared statements.
func (m *MySQL) Close() {
	close(m.inserts)
	m.wg.Wait()
	m.findIdentity.Close()
	m.createIdentity.Close()
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	for _, st := range m.batchStmts {
		st.Close()
	}
}

// insertLoop writes whatever refresh tokens are waiting, up to maxBatch at
// a time, without waiting for more.
func (m *MySQL) insertLoop() {
	defer m.wg.Done()
	batch := make([]insertReq, 0, maxBatch)
	for req := range m.inserts {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-m.inserts:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := m.insertBatch(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (m *MySQL) insertBatch(batch []insertReq) error {
	st, err := m.batchStmt(len(batch))
	if err != nil {
		return err
	}
	args := make([]any, 0, 6*len(batch))
	for _, r := range batch {
		t := r.t
		args = append(args, t.Hash, t.FamilyID, t.IdentityID, t.IssuedAt.UTC(), t.ExpiresAt.UTC(), t.FamilyExpiresAt.UTC())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert refresh tokens: %w", err)
	}
	return nil
}

func (m *MySQL) batchStmt(n int) (*sql.Stmt, error) {
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	if st, ok := m.batchStmts[n]; ok {
		return st, nil
	}
	q := "INSERT INTO otp_refresh_tokens (token_hash, family_id, identity_id, issued_at, expires_at, family_expires_at) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", n), ",")
	st, err := m.db.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	m.batchStmts[n] = st
	return st, nil
}

// FindIdentity implements otp.Identities.
func (m *MySQL) FindIdentity(ctx context.Context, kind, value string) (*otp.Identity, error) {
	id := &otp.Identity{Kind: kind, Value: value}
	err := m.findIdentity.QueryRowContext(ctx, kind, value).Scan(&id.ID, &id.MagentoCustomerID, &id.MagentoEmail, &id.CreatedAt)
	if err != nil {
		return nil, database.NotFound(err, "no identity")
	}
	return id, nil
}

// CreateIdentity implements otp.Identities.
func (m *MySQL) CreateIdentity(ctx context.Context, id *otp.Identity) error {
	res, err := m.createIdentity.ExecContext(ctx, id.Kind, id.Value, id.MagentoCustomerID, id.MagentoEmail, id.CreatedAt.UTC())
	if database.IsDuplicate(err) {
		return errs.Wrap(errs.Conflict, err, "destination already linked")
	}
	if err != nil {
		return fmt.Errorf("insert identity: %w", err)
	}
	n, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert identity: %w", err)
	}
	id.ID = n
	return nil
}

// IssueRefresh implements otp.Identities: the token joins the next batch
// insert and IssueRefresh returns once it is committed.
func (m *MySQL) IssueRefresh(ctx context.Context, t otp.RefreshToken) error {
	req := insertReq{t: t, done: make(chan error, 1)}
	select {
	case m.inserts <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the row is written whatever happens to ctx; wait for it
	// so the token is never handed out before it is stored.
	return <-req.done
}

func invalidRefresh(msg string) error {
	return &errs.Error{Code: otp.CodeInvalidRefresh, Status: http.StatusUnauthorized, Message: msg}
}

var errReused = &errs.Error{Code: otp.CodeRefreshReused, Status: http.StatusUnauthorized,
	Message: "This refresh token was already used, so the session has been ended for safety. Log in again."}

// RotateRefresh implements otp.Identities. The presented token's row is
// locked, so of two concurrent rotations one wins and the other is treated
// as reuse.
func (m *MySQL) RotateRefresh(ctx context.Context, oldHash []byte, next *otp.RefreshToken, now time.Time) (*otp.Identity, error) {
	var (
		id     otp.Identity
		reused bool
	)
	err := database.Transact(ctx, m.db, func(tx *sql.Tx) error {
		var (
			exp, famExp   time.Time
			used, revoked sql.NullTime
		)
		err := tx.QueryRowContext(ctx, `SELECT t.family_id, t.expires_at, t.family_expires_at, t.used_at, t.revoked_at,
				i.id, i.kind, i.value, i.magento_customer_id, i.magento_email, i.created_at
			FROM otp_refresh_tokens t JOIN otp_identities i ON i.id = t.identity_id
			WHERE t.token_hash = ? FOR UPDATE`, oldHash).Scan(&next.FamilyID, &exp, &famExp, &used, &revoked,
			&id.ID, &id.Kind, &id.Value, &id.MagentoCustomerID, &id.MagentoEmail, &id.CreatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return invalidRefresh("The refresh token is not valid. Log in again.")
		}
		if err != nil {
			return fmt.Errorf("select refresh token: %w", err)
		}
		switch {
		case revoked.Valid:
			return invalidRefresh("This session has ended. Log in again.")
		case used.Valid:
			reused = true
			_, err := tx.ExecContext(ctx, `UPDATE otp_refresh_tokens SET revoked_at = ?, revoke_reason = 'reuse'
				WHERE family_id = ? AND revoked_at IS NULL`, now.UTC(), next.FamilyID)
			return err
		case !now.Before(exp) || !now.Before(famExp):
			return invalidRefresh("The refresh token has expired. Log in again.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE otp_refresh_tokens SET used_at = ? WHERE token_hash = ?`, now.UTC(), oldHash); err != nil {
			return fmt.Errorf("spend refresh token: %w", err)
		}
		next.IdentityID = id.ID
		next.FamilyExpiresAt = famExp
		if next.ExpiresAt.After(famExp) {
			next.ExpiresAt = famExp
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO otp_refresh_tokens
			(token_hash, family_id, identity_id, issued_at, expires_at, family_expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			next.Hash, next.FamilyID, next.IdentityID, next.IssuedAt.UTC(), next.ExpiresAt.UTC(), next.FamilyExpiresAt.UTC())
		if err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, errReused
	}
	return &id, nil
}

// RevokeFamily implements otp.Identities.
func (m *MySQL) RevokeFamily(ctx context.Context, hash []byte, reason string, now time.Time) (int64, error) {
	var (
		family string
		idn    int64
	)
	err := m.db.QueryRowContext(ctx, `SELECT family_id, identity_id FROM otp_refresh_tokens WHERE token_hash = ?`, hash).Scan(&family, &idn)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, invalidRefresh("The refresh token is not valid.")
	}
	if err != nil {
		return 0, fmt.Errorf("select refresh token: %w", err)
	}
	// A rotation of the same family at this moment can deadlock with this
	// update (its INSERT against our range locks); MySQL then rolls one
	// back. The update is idempotent: repeat it, so a logout never ends
	// with a token of the session alive and an error the app may ignore.
	for attempt := 1; ; attempt++ {
		_, err := m.db.ExecContext(ctx, `UPDATE otp_refresh_tokens SET revoked_at = ?, revoke_reason = ?
			WHERE family_id = ? AND revoked_at IS NULL`, now.UTC(), reason, family)
		if err == nil {
			return idn, nil
		}
		if attempt == 3 || !database.IsRetryable(err) {
			return 0, fmt.Errorf("revoke family: %w", err)
		}
	}
}

// SessionActive implements otp.Sessions: a family is going while one of its
// refresh tokens is neither revoked (logout, detected reuse) nor past the
// family's maximum age.
func (m *MySQL) SessionActive(ctx context.Context, familyID string, now time.Time) (bool, error) {
	var one int
	err := m.db.QueryRowContext(ctx, `SELECT 1 FROM otp_refresh_tokens
		WHERE family_id = ? AND revoked_at IS NULL AND family_expires_at > ? LIMIT 1`, familyID, now.UTC()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session state: %w", err)
	}
	return true, nil
}

// Relink implements otp.Identities.
func (m *MySQL) Relink(ctx context.Context, identityID, magentoCustomerID int64, magentoEmail string) (*otp.Identity, error) {
	res, err := m.db.ExecContext(ctx, `UPDATE otp_identities SET magento_customer_id = ?, magento_email = ?
		WHERE id = ? AND kind = 'phone'`, magentoCustomerID, magentoEmail, identityID)
	if err != nil {
		return nil, fmt.Errorf("relink identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		if err := m.db.QueryRowContext(ctx, `SELECT 1 FROM otp_identities WHERE id = ? AND kind = 'phone'`, identityID).Scan(&exists); err != nil {
			return nil, database.NotFound(err, "no phone identity %d", identityID)
		}
	}
	id := &otp.Identity{ID: identityID}
	err = m.db.QueryRowContext(ctx, `SELECT kind, value, magento_customer_id, magento_email, created_at FROM otp_identities WHERE id = ?`,
		identityID).Scan(&id.Kind, &id.Value, &id.MagentoCustomerID, &id.MagentoEmail, &id.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("relink identity: %w", err)
	}
	return id, nil
}

// Purge deletes refresh tokens whose session ended before cutoff and audit
// rows older than auditBefore, in small batches so it never holds long
// locks. Several instances may run it at once.
func (m *MySQL) Purge(ctx context.Context, cutoff, auditBefore time.Time) (tokens, audit int64, err error) {
	for _, q := range []struct {
		sql string
		arg time.Time
		n   *int64
	}{
		{"DELETE FROM otp_refresh_tokens WHERE family_expires_at < ? LIMIT 5000", cutoff, &tokens},
		{"DELETE FROM otp_audit_log WHERE at < ? LIMIT 5000", auditBefore, &audit},
	} {
		for {
			res, err := m.db.ExecContext(ctx, q.sql, q.arg.UTC())
			if err != nil {
				return tokens, audit, fmt.Errorf("purge: %w", err)
			}
			n, _ := res.RowsAffected()
			*q.n += n
			if n < 5000 {
				break
			}
		}
	}
	return tokens, audit, nil
}
