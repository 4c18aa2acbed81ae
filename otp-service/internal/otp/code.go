package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// NewCode returns a code of n digits drawn uniformly from [0, 10^n) with
// crypto/rand: rand.Int rejects out-of-range draws instead of reducing them
// modulo 10^n, so no code is likelier than another.
func NewCode(r io.Reader, n int) (string, error) {
	if n < 6 || n > 10 {
		return "", fmt.Errorf("code length %d outside 6..10", n)
	}
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(r, max)
	if err != nil {
		return "", fmt.Errorf("code: %w", err)
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

// Keyring computes the keyed hashes of codes. New codes use the active key;
// a stored hash names its key, so codes hashed before a rotation still verify
// while their key is configured. A Keyring is safe for concurrent use.
type Keyring struct {
	active string
	keys   map[string][]byte
}

// NewKeyring returns a Keyring over keys whose active one is named active.
func NewKeyring(keys map[string][]byte, active string) (*Keyring, error) {
	if _, ok := keys[active]; !ok {
		return nil, fmt.Errorf("active hash key %q not configured", active)
	}
	return &Keyring{active: active, keys: keys}, nil
}

// Sum returns the active key's id and HMAC-SHA256(key, challengeID + code).
func (k *Keyring) Sum(challengeID, code string) (kid string, mac []byte) {
	return k.active, sum(k.keys[k.active], challengeID, code)
}

// Equal reports in constant time whether code matches the stored mac made
// with key kid. A key that has been removed matches nothing.
func (k *Keyring) Equal(kid string, mac []byte, challengeID, code string) bool {
	key, ok := k.keys[kid]
	if !ok {
		return false
	}
	return hmac.Equal(sum(key, challengeID, code), mac)
}

func sum(key []byte, challengeID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// newChallengeID returns the destination's tag followed by 15 random bytes,
// 32 base64url characters in all.
func newChallengeID(r io.Reader, tag string) (string, error) {
	var b [15]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("challenge id: %w", err)
	}
	return tag + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ChallengeIDLen is the length of challenge ids.
const ChallengeIDLen = 32

// ValidChallengeID reports whether id has the shape of a challenge id.
func ValidChallengeID(id string) bool {
	if len(id) != ChallengeIDLen {
		return false
	}
	return strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// ChallengeTag returns the destination tag an id starts with.
func ChallengeTag(id string) string { return id[:12] }
