// Package auth mints and verifies Dialtone login tokens and holds the server side's definition
// of valid user and device identifiers (behaviour §1).
//
// A login token is a JWT signed with HS256 and the server's shared secret (protocol.md, Login).
// Verify accepts a token only when all of these hold:
//   - it is in the JWS compact form (RFC 7515 section 7.1): three base64url parts, each in its
//     one canonical spelling, with no padding, whitespace or line break;
//   - its header names no critical extension ("crit", RFC 7515 section 4.1.11): none is
//     understood;
//   - its header names alg HS256 (any other algorithm, "none" included, is refused) and its
//     signature verifies with the secret;
//   - "sub" is present and a valid userID (ValidUserID);
//   - "exp" is present and not passed;
//   - "nbf", when present, has been reached;
//   - "iat", when present, is not in the future;
//   - "aud" contains the verifier's audience, when the verifier has one (a token's "aud" is
//     ignored by a verifier without one);
//   - every time claim present is a JSON number (RFC 7519 section 2: the JWT library would also
//     read digits in a string) naming a time from 1970 to 9999: the JWT library turns seconds
//     out of int64's range into dates long past, which would pass the nbf and iat checks.
//
// Every time comparison allows Leeway of clock skew between the token issuer and the server.
// Time is an argument: nothing in this package reads the clock.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated in every time claim: a token is still accepted Leeway
// after its exp, Leeway before its nbf, and with an iat up to Leeway in the future.
const Leeway = 30 * time.Second

// lastClaimUnix is the latest time a time claim may name: 9999-12-31T23:59:59Z.
const lastClaimUnix = 253402300799

// ErrInvalidToken is wrapped by every error Verify returns; the reason follows it in the message.
var ErrInvalidToken = errors.New("auth: invalid token")

// Verifier checks login tokens against one secret and, optionally, one audience. It is
// immutable and safe for concurrent use.
type Verifier struct {
	secret   []byte
	audience string
}

// NewVerifier returns a Verifier for secret (which must not be empty) and audience ("" for no
// audience check). It keeps its own copy of secret.
func NewVerifier(secret []byte, audience string) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, errors.New("auth: the secret must not be empty")
	}
	return &Verifier{secret: append([]byte(nil), secret...), audience: audience}, nil
}

// Verify checks token as of now (see the package doc for the rules) and returns its userID.
// Every failure wraps ErrInvalidToken.
func (v *Verifier) Verify(token string, now time.Time) (userID string, err error) {
	// The decoder skips line breaks, so they are refused before it sees them.
	if i := strings.IndexFunc(token, func(r rune) bool { return !compactByte(r) }); i >= 0 {
		return "", fmt.Errorf("%w: %w: byte %d is not base64url or '.'", ErrInvalidToken, jwt.ErrTokenMalformed, i)
	}
	opts := []jwt.ParserOption{
		jwt.WithStrictDecoding(),
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	var claims numericClaims
	_, err = jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit names extensions that are not understood")
		}
		return v.secret, nil
	}, opts...)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	for name, d := range map[string]*jwt.NumericDate{"exp": claims.ExpiresAt, "nbf": claims.NotBefore, "iat": claims.IssuedAt} {
		if d != nil && (d.Before(time.Unix(0, 0)) || d.After(time.Unix(lastClaimUnix, 0))) {
			return "", fmt.Errorf("%w: %s is out of range", ErrInvalidToken, name)
		}
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: sub is required", ErrInvalidToken)
	}
	if !ValidUserID(claims.Subject) {
		return "", fmt.Errorf("%w: sub is not a valid userID", ErrInvalidToken)
	}
	return claims.Subject, nil
}

// numericClaims are the registered claims of a token whose time claims, when present, are
// JSON numbers.
type numericClaims struct{ jwt.RegisteredClaims }

// UnmarshalJSON refuses a time claim that is not a JSON number, then decodes the claims.
func (c *numericClaims) UnmarshalJSON(payload []byte) error {
	var times struct{ Exp, Nbf, Iat json.RawMessage }
	if err := json.Unmarshal(payload, &times); err != nil {
		return err
	}
	for _, claim := range []struct {
		name  string
		value json.RawMessage
	}{{"exp", times.Exp}, {"nbf", times.Nbf}, {"iat", times.Iat}} {
		if len(claim.value) > 0 && claim.value[0] == '"' {
			return fmt.Errorf("%s is not a JSON number", claim.name)
		}
	}
	return json.Unmarshal(payload, &c.RegisteredClaims)
}

// compactByte reports whether r may appear in a token of the JWS compact form.
func compactByte(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.'
}

// Mint returns an HS256 token for userID signed with secret: sub = userID, iat = now,
// exp = now + ttl, and aud = audience when it is not empty. It refuses an empty secret, an
// invalid userID and a ttl that is not positive. Times are whole seconds, as JWT requires.
func Mint(secret []byte, userID string, ttl time.Duration, now time.Time, audience string) (string, error) {
	switch {
	case len(secret) == 0:
		return "", errors.New("auth: the secret must not be empty")
	case !ValidUserID(userID):
		return "", fmt.Errorf("auth: %q is not a valid userID", userID)
	case ttl <= 0:
		return "", errors.New("auth: the ttl must be positive")
	}
	claims := jwt.RegisteredClaims{
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if audience != "" {
		claims.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
