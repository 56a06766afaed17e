package auth

import (
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify: Verify never panics, and refuses with a known reason or
// accepts; accepted tokens carry sane claims.
func FuzzVerify(f *testing.F) {
	k := testKeys()
	dir := f.TempDir()
	file := writeFile(f, dir, jwksDoc(f,
		jwk{kid: "rsa1", key: k.rsa1, alg: jwkset.AlgRS256},
		jwk{kid: "ec1", key: k.ec1},
		jwk{kid: "p384", key: k.ec384},
	))
	clk := newClock()
	v, err := New(f.Context(), Config{HS256Secret: secret, JWKSFile: file, Issuer: issuer, Audience: audience}, clk.now, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close() // a file verifier never fetches: fuzzing stays off the network

	for _, s := range []string{
		"", ".", "..", "...", "a.b.c", "Bearer x",
		sign(f, jwt.SigningMethodHS256, []byte(secret), "", claims()),
		sign(f, jwt.SigningMethodHS256, []byte(secret), "", claims("channels", []any{"a", 1}, "aud", []any{audience, nil})),
		sign(f, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims()),
		sign(f, jwt.SigningMethodRS256, k.rsa1, "", claims("exp", 1e300, "nbf", -1e300)),
		sign(f, jwt.SigningMethodES256, k.ec1, "ec1", claims()),
		sign(f, jwt.SigningMethodES256, k.ec1, "p384", claims()),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims()),
		b64(`{"alg":"RS256","kid":{"x":[1]}}`) + "." + b64(`{"exp":"1","aud":7}`) + ".",
		b64(`{"alg":null}`) + "." + b64(`null`) + "." + b64("sig"),
		b64(`{"alg":"ES256"}`) + "." + b64(`{"channels":null}`) + "." + strings.Repeat("A", 86),
	} {
		f.Add(s)
	}
	reasons := map[string]bool{
		ReasonMalformed: true, ReasonSignature: true, ReasonExpired: true, ReasonNotYetValid: true,
		ReasonIssuer: true, ReasonAudience: true, ReasonAlgorithm: true, ReasonUnknownKey: true, ReasonNoKeys: true,
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			if r := reasonOf(t, err); !reasons[r] {
				t.Fatalf("unknown reason %q: %v", r, err)
			}
			return
		}
		if !c.Expires.IsZero() && !clk.now().Before(c.Expires) {
			t.Fatalf("accepted a token expiring at %v", c.Expires)
		}
	})
}
