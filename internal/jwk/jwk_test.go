package jwk

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// RFC 8037 appendix A.2's public key as an OKP JWK; a P-256 key's x and y
// are its 32-byte coordinates; other keys are refused.
func TestPublic(t *testing.T) {
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	k, err := Public("rfc", ed25519.PublicKey(pub))
	if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.X != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" || k.Y != "" {
		t.Errorf("Public(Ed25519) = %+v, %v; want RFC 8037's x", k, err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err = Public("ec", &ec.PublicKey)
	if err != nil || k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || len(k.X) != 43 || len(k.Y) != 43 || k.Kid != "ec" || k.Use != "sig" {
		t.Errorf("Public(P-256) = %+v, %v", k, err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, key := range map[string]any{"P-384": &p384.PublicKey, "bytes": []byte("x")} {
		if _, err := Public("bad", key); err == nil {
			t.Errorf("Public(%s) = nil error; want refused", name)
		}
	}
}
