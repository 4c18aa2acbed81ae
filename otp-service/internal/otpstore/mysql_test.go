package otpstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
)

func newMySQL(t testing.TB) (*MySQL, *sql.DB) {
	t.Helper()
	db := databasetest.New(t, os.DirFS("../../migrations"))
	m, err := NewMySQL(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, db
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestIdentities(t *testing.T) {
	m, _ := newMySQL(t)
	ctx := context.Background()
	if _, err := m.FindIdentity(ctx, "phone", "+919876543210"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("FindIdentity(missing) = %v; want not_found", err)
	}
	id := &otp.Identity{Kind: "phone", Value: "+919876543210", MagentoCustomerID: 5, MagentoEmail: "x@phone.example", CreatedAt: time.Now()}
	if err := m.CreateIdentity(ctx, id); err != nil || id.ID == 0 {
		t.Fatalf("CreateIdentity = %v, id %d", err, id.ID)
	}
	if err := m.CreateIdentity(ctx, &otp.Identity{Kind: "phone", Value: "+919876543210", MagentoCustomerID: 6, CreatedAt: time.Now()}); !errs.Is(err, errs.Conflict) {
		t.Errorf("second CreateIdentity = %v; want conflict", err)
	}
	got, err := m.FindIdentity(ctx, "phone", "+919876543210")
	if err != nil || got.ID != id.ID || got.MagentoCustomerID != 5 {
		t.Errorf("FindIdentity = %+v, %v", got, err)
	}
}

// Two concurrent rotations of one refresh token: one wins, the other is
// reuse and revokes the family, including the winner's new token.
func TestRotateRefreshConcurrentIsReuse(t *testing.T) {
	m, db := newMySQL(t)
	ctx := context.Background()
	now := time.Now()
	id := &otp.Identity{Kind: "email", Value: "a@example.com", MagentoCustomerID: 1, MagentoEmail: "a@example.com", CreatedAt: now}
	_ = m.CreateIdentity(ctx, id)
	first := otp.RefreshToken{Hash: hash("rt0"), FamilyID: "fam", IdentityID: id.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
	if err := m.IssueRefresh(ctx, first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := &otp.RefreshToken{Hash: hash("rt" + string(rune('1'+i))), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			_, results[i] = m.RotateRefresh(ctx, first.Hash, next, now)
		}()
	}
	wg.Wait()
	wins, reused := 0, 0
	for _, err := range results {
		switch errs.Code(err) {
		case "":
			wins++
		case otp.CodeRefreshReused:
			reused++
		default:
			t.Errorf("RotateRefresh = %v", err)
		}
	}
	if wins != 1 || reused != 1 {
		t.Errorf("concurrent rotations: %d won, %d reused; want 1 and 1", wins, reused)
	}
	var live int
	_ = db.QueryRow("SELECT COUNT(*) FROM otp_refresh_tokens WHERE family_id = 'fam' AND revoked_at IS NULL").Scan(&live)
	if live != 0 {
		t.Errorf("%d tokens of the family still live; want 0", live)
	}
}

func TestAuditWritesBatches(t *testing.T) {
	_, db := newMySQL(t)
	a := NewAudit(db, zaptest.NewLogger(t), nil, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	for i := range 450 {
		a.Record(otp.Event{At: time.Now(), Type: otp.EventStart, Subject: "+91********10", IdentityID: int64(i % 2)})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n, nulls int
	_ = db.QueryRow("SELECT COUNT(*), SUM(identity_id IS NULL) FROM otp_audit_log").Scan(&n, &nulls)
	if n != 450 || nulls != 225 {
		t.Errorf("audit rows = %d (%d without identity); want 450 (225)", n, nulls)
	}
}

func TestPurge(t *testing.T) {
	m, db := newMySQL(t)
	ctx := context.Background()
	now := time.Now()
	for i, famExp := range []time.Time{now.Add(-48 * time.Hour), now.Add(time.Hour)} {
		if err := m.IssueRefresh(ctx, otp.RefreshToken{Hash: hash(string(rune('a' + i))), FamilyID: "f", IdentityID: 1,
			IssuedAt: now, ExpiresAt: famExp, FamilyExpiresAt: famExp}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = db.Exec("INSERT INTO otp_audit_log (at, event, subject) VALUES (?, 'start', 'x'), (?, 'start', 'y')", now.Add(-500*24*time.Hour), now)
	tok, aud, err := m.Purge(ctx, now.Add(-24*time.Hour), now.Add(-400*24*time.Hour))
	if err != nil || tok != 1 || aud != 1 {
		t.Errorf("Purge = %d tokens, %d audit rows, %v; want 1, 1", tok, aud, err)
	}
}

// A session (refresh token family) is going until it is revoked or reaches
// its maximum age; an unknown family is not.
func TestSessionActive(t *testing.T) {
	m, _ := newMySQL(t)
	ctx := context.Background()
	now := time.Now()
	id := &otp.Identity{Kind: "phone", Value: "+919876543210", MagentoCustomerID: 1, MagentoEmail: "p@example.com", CreatedAt: now}
	if err := m.CreateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"live", "out"} {
		rt := otp.RefreshToken{Hash: hash("rt-" + fam), FamilyID: fam, IdentityID: id.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
		if err := m.IssueRefresh(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.RevokeFamily(ctx, hash("rt-out"), "logout", now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		family string
		at     time.Time
		want   bool
	}{
		{"live", now, true},
		{"live", now.Add(25 * time.Hour), false}, // past the family's maximum age
		{"out", now, false},                      // logged out
		{"nobody", now, false},
	}
	for _, tt := range tests {
		got, err := m.SessionActive(ctx, tt.family, tt.at)
		if err != nil || got != tt.want {
			t.Errorf("SessionActive(%s, %v) = %v, %v; want %v", tt.family, tt.at.Sub(now), got, err, tt.want)
		}
	}
}
