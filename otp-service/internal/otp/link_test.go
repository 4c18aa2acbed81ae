package otp_test

import (
	"context"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// liveSessions is an otp.Sessions: the families in it are going.
type liveSessions map[string]bool

func (l liveSessions) SessionActive(_ context.Context, family string, _ time.Time) (bool, error) {
	return l[family], nil
}

// A link token is refused, before any attempt is spent, unless its phone
// login is at most LinkTokenMaxAge old and its session is still going.
func TestLinkTokenMustBeRecentAndLive(t *testing.T) {
	tests := []struct {
		name     string
		age      time.Duration
		sessions func(family string) otp.Sessions
	}{
		{"session ended", time.Minute, func(string) otp.Sessions { return liveSessions{} }},
		{"too old", otp.LinkTokenMaxAge + time.Second, func(f string) otp.Sessions { return liveSessions{f: true} }},
		{"no session check configured", time.Minute, func(string) otp.Sessions { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			tc := tokens.DefaultConfig()
			tc.GenerateDevKey = true
			tc.AccessTTL = 15 * time.Minute // outlives LinkTokenMaxAge
			iss, err := tokens.New(tc)
			if err != nil {
				t.Fatal(err)
			}
			d := f.deps
			d.Tokens = iss
			svc, err := otp.New(f.cfg, d)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			res, err := svc.Start(ctx, otp.StartRequest{Phone: "+919876543210"}, meta)
			if err != nil {
				t.Fatal(err)
			}
			phone, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: f.out.code("+919876543210")}, meta)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := iss.ParseAccess(phone.AccessToken, time.Unix(0, f.now.Load()))
			if err != nil || claims.SessionID == "" || !claims.IssuedAt.Equal(time.Unix(0, f.now.Load()).Truncate(time.Second)) {
				t.Fatalf("ParseAccess = %+v, %v; want the session and the issue time", claims, err)
			}
			d.Sessions = tt.sessions(claims.SessionID)
			if svc, err = otp.New(f.cfg, d); err != nil {
				t.Fatal(err)
			}
			f.now.Add(int64(tt.age))
			res, err = svc.Start(ctx, otp.StartRequest{Email: "asha@example.com"}, meta)
			if err != nil {
				t.Fatal(err)
			}
			code := f.out.code("asha@example.com")
			_, err = svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: code, LinkToken: phone.AccessToken}, meta)
			if want := map[bool]string{true: errs.Internal, false: errs.Unauthorized}[tt.sessions("") == nil]; errs.Code(err) != want {
				t.Fatalf("Verify with the link token = %v; want %s", err, want)
			}
			// The refusal spent no attempt: the code still works without
			// the link token.
			if _, err := svc.Verify(ctx, otp.VerifyRequest{ChallengeID: res.ChallengeID, Code: code}, meta); err != nil {
				t.Errorf("Verify without the link token after the refusal = %v; want success", err)
			}
		})
	}
}
