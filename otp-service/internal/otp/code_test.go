package otp

import (
	"bytes"
	"crypto/rand"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	mathrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/config"
)

// countingReader yields the bytes of src and counts how many were read.
type countingReader struct {
	src io.Reader
	n   int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.n += n
	return n, err
}

// Rule 1: a draw above the largest multiple of 10^n must be rejected, not
// reduced modulo 10^n (which would favour low codes).
func TestNewCodeRejectsOutOfRangeDrawsNoModuloBias(t *testing.T) {
	// 10^6 needs 20 bits: three bytes, masked to 20 bits. 0xFFFFFF masks
	// to 1048575 >= 10^6 and must be redrawn; the zero bytes then give 0.
	src := append(bytes.Repeat([]byte{0xFF}, 3), make([]byte, 64)...)
	r := &countingReader{src: bytes.NewReader(src)}
	code, err := NewCode(r, 6)
	if err != nil {
		t.Fatal(err)
	}
	if code != "000000" {
		t.Errorf("NewCode after an out-of-range draw = %q; want %q (a modulo reduction gives %q)", code, "000000", "048575")
	}
	if r.n < 6 {
		t.Errorf("NewCode read %d bytes; want a second draw after rejecting the first", r.n)
	}
}

func TestNewCodeLengthAndDigits(t *testing.T) {
	for n := 6; n <= 10; n++ {
		c, err := NewCode(rand.Reader, n)
		if err != nil || len(c) != n || strings.Trim(c, "0123456789") != "" {
			t.Errorf("NewCode(%d) = %q, %v; want %d digits", n, c, err, n)
		}
	}
	for _, n := range []int{4, 5, 11} {
		if _, err := NewCode(rand.Reader, n); err == nil {
			t.Errorf("NewCode(%d) succeeded; want an error (6 to 10 digits only)", n)
		}
	}
}

// Each digit position is uniform over 0-9 (chi-square, 9 degrees of freedom,
// threshold at p = 0.0001). The bytes come from a ChaCha8 stream with a fixed
// seed, so the verdict is the same on every run: on crypto/rand the six
// positions failed about one run in 1,700. crypto/rand itself is covered by
// TestNewCodeLengthAndDigits and TestServiceDrawsFromCryptoRand.
func TestNewCodeDigitsUniform(t *testing.T) {
	const draws = 20000
	var seed [32]byte
	copy(seed[:], "otp TestNewCodeDigitsUniform")
	src := mathrand.NewChaCha8(seed)
	var counts [6][10]int
	for range draws {
		c, err := NewCode(src, 6)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			counts[i][c[i]-'0']++
		}
	}
	for i := range 6 {
		chi := 0.0
		for d := range 10 {
			diff := float64(counts[i][d]) - draws/10.0
			chi += diff * diff / (draws / 10.0)
		}
		if chi > 33.7 {
			t.Errorf("digit %d: chi-square %.1f > 33.7; counts %v", i, chi, counts[i])
		}
	}
}

// Outside tests, codes and ids are drawn from crypto/rand.
func TestServiceDrawsFromCryptoRand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HashKeys = map[string]config.Secret{"k1": config.Secret(strings.Repeat("k", 32))}
	cfg.ActiveHashKey = "k1"
	cfg.FingerprintKey = config.Secret(strings.Repeat("f", 32))
	s, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if s.d.Rand != rand.Reader {
		t.Errorf("New without Deps.Rand draws from %T; want crypto/rand.Reader", s.d.Rand)
	}
}

// Rule 3: hashes are keyed, and a key can rotate: codes hashed with an old
// key verify while it is configured, and not after it is removed.
func TestKeyringRotation(t *testing.T) {
	old, _ := NewKeyring(map[string][]byte{"k1": []byte("one")}, "k1")
	kid, mac := old.Sum("challenge", "123456")
	if kid != "k1" {
		t.Fatalf("kid = %q", kid)
	}
	both, _ := NewKeyring(map[string][]byte{"k1": []byte("one"), "k2": []byte("two")}, "k2")
	if !both.Equal(kid, mac, "challenge", "123456") {
		t.Error("a code hashed with k1 does not verify after k2 became active")
	}
	if both.Equal(kid, mac, "challenge", "123457") || both.Equal(kid, mac, "other", "123456") {
		t.Error("a wrong code or another challenge's id verifies")
	}
	if k2, _ := both.Sum("challenge", "123456"); k2 != "k2" {
		t.Errorf("new codes use %q; want k2", k2)
	}
	removed, _ := NewKeyring(map[string][]byte{"k2": []byte("two")}, "k2")
	if removed.Equal(kid, mac, "challenge", "123456") {
		t.Error("a code verifies after its key was removed")
	}
	if _, m2 := both.Sum("challenge", "123456"); bytes.Equal(m2, mac) {
		t.Error("two keys give the same hash")
	}
}

// Rule 4: the code comparison is constant-time. Timing assertions are
// flaky, so this test reads the source: Keyring.Equal must compare with
// hmac.Equal (or subtle.ConstantTimeCompare) and never with == or
// bytes.Equal.
func TestKeyringComparesInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "code.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found, constant, unsafe bool
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "Equal" {
			return true
		}
		found = true
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					name := id.Name + "." + x.Sel.Name
					switch name {
					case "hmac.Equal", "subtle.ConstantTimeCompare":
						constant = true
					case "bytes.Equal", "bytes.Compare", "reflect.DeepEqual":
						unsafe = true
					}
				}
			case *ast.BinaryExpr:
				if x.Op == token.EQL || x.Op == token.NEQ {
					unsafe = true
				}
			}
			return true
		})
		return false
	})
	if !found || !constant || unsafe {
		t.Errorf("Keyring.Equal: found %v, constant-time compare %v, variable-time compare %v", found, constant, unsafe)
	}
}

func TestChallengeIDShape(t *testing.T) {
	id, err := newChallengeID(rand.Reader, "AAAAAAAAAAAA")
	if err != nil || !ValidChallengeID(id) || ChallengeTag(id) != "AAAAAAAAAAAA" {
		t.Errorf("newChallengeID = %q, %v", id, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 31) + "/", strings.Repeat("a", 33)} {
		if ValidChallengeID(bad) {
			t.Errorf("ValidChallengeID(%q) = true", bad)
		}
	}
}
