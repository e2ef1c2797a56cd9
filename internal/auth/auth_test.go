package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow    = time.Unix(1_700_000_000, 0)
)

// sign signs claims with method and key.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// claims returns valid claims for alice as of testNow, changed by edit.
func claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

func hs256(t *testing.T, edit func(jwt.MapClaims)) string {
	return sign(t, jwt.SigningMethodHS256, testSecret, claims(edit))
}

// unsigned builds header.payload.signature from raw JSON parts.
func unsigned(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

func TestVerifyAccepts(t *testing.T) {
	tests := []struct {
		name     string
		audience string
		token    func(t *testing.T) string
		now      time.Time
		want     string
	}{
		{"plain", "", func(t *testing.T) string { return hs256(t, nil) }, testNow, "alice"},
		{"every charset byte", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["sub"] = "aZ9!#$%&()+-:;<=.>?@[]^_{}|~" })
		}, testNow, "aZ9!#$%&()+-:;<=.>?@[]^_{}|~"},
		{"32-byte sub", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["sub"] = strings.Repeat("u", 32) })
		}, testNow, strings.Repeat("u", 32)},
		{"no iat", "", func(t *testing.T) string { return hs256(t, func(c jwt.MapClaims) { delete(c, "iat") }) }, testNow, "alice"},
		{"nbf reached", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["nbf"] = testNow.Unix() })
		}, testNow, "alice"},
		{"expired within leeway", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-Leeway / 2).Unix() })
		}, testNow, "alice"},
		{"iat in the future within leeway", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["iat"] = testNow.Add(Leeway / 2).Unix() })
		}, testNow, "alice"},
		{"nbf in the future within leeway", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(Leeway / 2).Unix() })
		}, testNow, "alice"},
		{"audience matches", "dialtone", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["aud"] = "dialtone" })
		}, testNow, "alice"},
		{"audience among several", "dialtone", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["aud"] = []string{"other", "dialtone"} })
		}, testNow, "alice"},
		{"token audience ignored without verifier audience", "", func(t *testing.T) string {
			return hs256(t, func(c jwt.MapClaims) { c["aud"] = "elsewhere" })
		}, testNow, "alice"},
		{"minted", "dialtone", func(t *testing.T) string {
			tok, err := Mint(testSecret, "bob", time.Minute, testNow, "dialtone")
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, testNow.Add(59 * time.Second), "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(testSecret, tt.audience)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(tt.token(t), tt.now)
			if err != nil || got != tt.want {
				t.Fatalf("Verify = %q, %v; want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := hs256(t, nil)
	parts := strings.Split(valid, ".")
	tests := []struct {
		name     string
		audience string
		token    string
		now      time.Time
		why      string // a part of the error message naming the reason
	}{
		{"empty", "", "", testNow, "segments"},
		{"garbage", "", "not-a-token", testNow, "segments"},
		{"two segments", "", parts[0] + "." + parts[1], testNow, "segments"},
		{"tampered signature", "", parts[0] + "." + parts[1] + "." + flip(parts[2]), testNow, "signature is invalid"},
		{"tampered payload", "", parts[0] + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","exp":9999999999}`)) + "." + parts[2], testNow, "signature is invalid"},
		{"wrong secret", "", sign(t, jwt.SigningMethodHS256, []byte("another secret of enough length"), claims(nil)), testNow, "signature is invalid"},
		{"alg none", "", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), testNow, "signing method none"},
		{"alg none hand-made", "", unsigned(`{"alg":"none","typ":"JWT"}`, `{"sub":"alice","exp":9999999999}`, ""), testNow, "signing method none"},
		{"alg HS512 with the secret", "", sign(t, jwt.SigningMethodHS512, testSecret, claims(nil)), testNow, "HS512"},
		{"alg HS384 with the secret", "", sign(t, jwt.SigningMethodHS384, testSecret, claims(nil)), testNow, "HS384"},
		{"alg RS256", "", sign(t, jwt.SigningMethodRS256, rsaKey, claims(nil)), testNow, "RS256"},
		{"alg missing", "", unsigned(`{"typ":"JWT"}`, `{"sub":"alice","exp":9999999999}`, parts[2]), testNow, "unspecified"},
		{"expired", "", hs256(t, nil), testNow.Add(time.Hour + Leeway + time.Second), "expired"},
		{"expired long ago", "", hs256(t, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() }), testNow, "expired"},
		{"not yet valid", "", hs256(t, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }), testNow, "not valid yet"},
		{"issued in the future", "", hs256(t, func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }), testNow, "before issued"},
		{"nbf past int64", "", hs256(t, func(c jwt.MapClaims) { c["nbf"] = 1e19 }), testNow, "nbf is out of range"},
		{"exp past year 9999", "", hs256(t, func(c jwt.MapClaims) { c["exp"] = 3e11 }), testNow, "exp is out of range"},
		{"iat past int64", "", hs256(t, func(c jwt.MapClaims) { c["iat"] = 9.3e18 }), testNow, "iat is out of range"},
		{"exp before 1970", "", hs256(t, func(c jwt.MapClaims) { c["exp"] = -1e10 }), testNow, "exp"},
		{"missing exp", "", hs256(t, func(c jwt.MapClaims) { delete(c, "exp") }), testNow, "exp claim is required"},
		{"exp not a number", "", hs256(t, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), testNow, "exp is not a JSON number"},
		// RFC 7519 section 2: a NumericDate is a JSON number, so digits in a string are not
		// one, although the JWT library would read them as one.
		{"exp a string of digits", "", hs256(t, func(c jwt.MapClaims) { c["exp"] = "9999999999" }), testNow, "exp is not a JSON number"},
		{"nbf a string of digits", "", hs256(t, func(c jwt.MapClaims) { c["nbf"] = fmt.Sprint(testNow.Unix()) }), testNow, "nbf is not a JSON number"},
		{"iat a string of digits", "", hs256(t, func(c jwt.MapClaims) { c["iat"] = fmt.Sprint(testNow.Unix()) }), testNow, "iat is not a JSON number"},
		{"missing sub", "", hs256(t, func(c jwt.MapClaims) { delete(c, "sub") }), testNow, "sub is required"},
		{"empty sub", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = "" }), testNow, "sub is required"},
		{"sub not a string", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = 42 }), testNow, "sub"},
		{"sub with a space", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = "al ice" }), testNow, "valid userID"},
		{"sub with a slash", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = "al/ice" }), testNow, "valid userID"},
		{"sub non-ASCII", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = "alicé" }), testNow, "valid userID"},
		{"sub too long", "", hs256(t, func(c jwt.MapClaims) { c["sub"] = strings.Repeat("u", 33) }), testNow, "valid userID"},
		{"wrong audience", "dialtone", hs256(t, func(c jwt.MapClaims) { c["aud"] = "elsewhere" }), testNow, "audience"},
		{"missing audience", "dialtone", hs256(t, nil), testNow, "aud claim"},
		// RFC 7515 section 7.1: the compact form is three base64url parts without padding or
		// line breaks, which Go's decoder would skip; and each part has one encoding only.
		{"line break in the signature", "", parts[0] + "." + parts[1] + "." + parts[2][:5] + "\n" + parts[2][5:], testNow, "malformed"},
		{"trailing line break", "", valid + "\r\n", testNow, "malformed"},
		{"signature with padding bits set", "", parts[0] + "." + parts[1] + "." + setPaddingBits(t, parts[2]), testNow, "malformed"},
		// RFC 7515 section 4.1.11: a token naming critical extensions is refused, none being
		// understood.
		{"crit header", "", withHeader(t, "crit", []string{"exp"}), testNow, "crit"},
		// A token as long as a login frame allows (protocol.md: 64 KiB) is read, and refused for
		// its signature like any other.
		{"over-long token", "", parts[0] + "." + base64.RawURLEncoding.EncodeToString(
			[]byte(`{"sub":"alice","exp":9999999999,"x":"`+strings.Repeat("x", 48<<10)+`"}`)) + "." + parts[2], testNow, "signature is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(testSecret, tt.audience)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(tt.token, tt.now)
			if err == nil {
				t.Fatalf("Verify = %q, nil; want an error", got)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not name the reason %q", err, tt.why)
			}
			if got != "" {
				t.Errorf("userID = %q on error", got)
			}
			// The error is logged (at DEBUG): it must not carry the token, a credential.
			for _, part := range strings.Split(tt.token, ".") {
				if len(part) >= 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q holds a part of the token", err)
				}
			}
		})
	}
}

// setPaddingBits returns sig, a base64url signature whose last character carries unused low
// bits, with those bits set: a second spelling of the same bytes.
func setPaddingBits(t *testing.T, sig string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(sig)%4 == 0 {
		t.Fatalf("signature %q has no padding bits", sig)
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[last|1])
}

// withHeader returns a valid HS256 token whose header also holds name: value.
func withHeader(t *testing.T, name string, value any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	tok.Header[name] = value
	s, err := tok.SignedString(testSecret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// flip changes the first character of a base64url signature.
func flip(sig string) string {
	c := byte('A')
	if sig[0] == 'A' {
		c = 'B'
	}
	return string(c) + sig[1:]
}

func TestNewVerifierRefusesEmptySecret(t *testing.T) {
	for _, secret := range [][]byte{nil, {}} {
		if _, err := NewVerifier(secret, ""); err == nil {
			t.Errorf("NewVerifier(%q) succeeded", secret)
		}
	}
}

func TestNewVerifierCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v, err := NewVerifier(secret, "")
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 0xff
	if _, err := v.Verify(hs256(t, nil), testNow); err != nil {
		t.Fatalf("Verify after changing the caller's slice: %v", err)
	}
}

func TestMint(t *testing.T) {
	tok, err := Mint(testSecret, "alice", time.Hour, testNow, "aud1")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return testSecret, nil },
		jwt.WithTimeFunc(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	if alg := parsed.Header["alg"]; alg != "HS256" {
		t.Errorf("alg = %v, want HS256", alg)
	}
	c := parsed.Claims.(jwt.MapClaims)
	want := map[string]any{"sub": "alice", "iat": float64(testNow.Unix()),
		"exp": float64(testNow.Add(time.Hour).Unix()), "aud": "aud1"}
	for k, w := range want {
		got := c[k]
		if s, ok := got.([]any); ok && len(s) == 1 {
			got = s[0]
		}
		if got != w {
			t.Errorf("claim %s = %v, want %v", k, c[k], w)
		}
	}
	noAud, err := Mint(testSecret, "alice", time.Hour, testNow, "")
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := jwt.NewParser().ParseUnverified(noAud, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p2.Claims.(jwt.MapClaims)["aud"]; ok {
		t.Error("aud present although no audience was given")
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		user   string
		ttl    time.Duration
	}{
		{"empty secret", nil, "alice", time.Hour},
		{"invalid userID", testSecret, "al ice", time.Hour},
		{"empty userID", testSecret, "", time.Hour},
		{"zero ttl", testSecret, "alice", 0},
		{"negative ttl", testSecret, "alice", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := Mint(tt.secret, tt.user, tt.ttl, testNow, ""); err == nil {
				t.Fatalf("Mint = %q, nil; want an error", tok)
			}
		})
	}
}

func TestValidIDs(t *testing.T) {
	const charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()+-:;<=.>?@[]^_{}|~"
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)})
		want := strings.IndexByte(charset, byte(c)) >= 0
		if got := ValidUserID(s); got != want {
			t.Errorf("ValidUserID(%q) = %v, want %v", s, got, want)
		}
		if got := ValidDeviceID(s); got != want {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", s, got, want)
		}
	}
	tests := []struct {
		id             string
		user, deviceOK bool
	}{
		{"", false, false},
		{strings.Repeat("a", 32), true, true},
		{strings.Repeat("a", 33), false, true},
		{strings.Repeat("a", 64), false, true},
		{strings.Repeat("a", 65), false, false},
		{"a b", false, false},
		{"a\x00", false, false},
		{"é", false, false},
		{`a"b`, false, false},
		{"a,b", false, false},
		{"a*b", false, false},
		{"a'b", false, false},
		{"a/b", false, false},
		{`a\b`, false, false},
		{"a`b", false, false},
	}
	for _, tt := range tests {
		if got := ValidUserID(tt.id); got != tt.user {
			t.Errorf("ValidUserID(%q) = %v, want %v", tt.id, got, tt.user)
		}
		if got := ValidDeviceID(tt.id); got != tt.deviceOK {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tt.id, got, tt.deviceOK)
		}
	}
}
