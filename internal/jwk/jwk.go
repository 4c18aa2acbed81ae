// Package jwk writes the public keys of the platform's access tokens as JSON
// Web Keys: a P-256 key as kty "EC" (crv "P-256", x and y, alg ES256) and an
// Ed25519 key as kty "OKP" (crv "Ed25519", x, alg EdDSA; RFC 8037).
// otp-service publishes its keys with it; checkout-service reads them back.
package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"fmt"
)

// Key is one public signing key of a JWKS.
type Key struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// Public returns the JWK of a P-256 or Ed25519 public key under kid.
func Public(kid string, key crypto.PublicKey) (Key, error) {
	switch key := key.(type) {
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("jwk: key %s is not on P-256", kid)
		}
		raw, err := key.Bytes() // 0x04 || X || Y
		if err != nil {
			return Key{}, fmt.Errorf("jwk: key %s: %w", kid, err)
		}
		return Key{Kty: "EC", Crv: "P-256", Kid: kid, Use: "sig", Alg: "ES256",
			X: base64.RawURLEncoding.EncodeToString(raw[1:33]), Y: base64.RawURLEncoding.EncodeToString(raw[33:65])}, nil
	case ed25519.PublicKey:
		return Key{Kty: "OKP", Crv: "Ed25519", Kid: kid, Use: "sig", Alg: "EdDSA",
			X: base64.RawURLEncoding.EncodeToString(key)}, nil
	}
	return Key{}, fmt.Errorf("jwk: key %s is a %T, not a P-256 or Ed25519 public key", kid, key)
}
