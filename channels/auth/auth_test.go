package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/feedd/feedd/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the injected "now" of every test.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	secret   = "0123456789abcdef0123456789abcdef-test-secret"
	issuer   = "https://issuer.test"
	audience = "feedd"
)

// testKeys are generated once per process: RSA generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	rsa1, rsa2, rsaOther *rsa.PrivateKey
	ec1, ecOther, ec384  *ecdsa.PrivateKey
}) {
	rsaKey := func() *rsa.PrivateKey {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return key
	}
	ecKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return key
	}
	k.rsa1, k.rsa2, k.rsaOther = rsaKey(), rsaKey(), rsaKey()
	k.ec1, k.ecOther, k.ec384 = ecKey(elliptic.P256()), ecKey(elliptic.P256()), ecKey(elliptic.P384())
	return k
})

// clock is an adjustable injected clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// sign makes a token; kid "" leaves the header out.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", m.Alg(), err)
	}
	return s
}

// claims are valid claims at t0 for the "strict" verifier (iss and aud set);
// the others ignore iss and aud. kv overrides or, with a nil value, deletes.
func claims(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":      "user-1",
		"exp":      t0.Add(time.Hour).Unix(),
		"iat":      t0.Add(-time.Minute).Unix(),
		"iss":      issuer,
		"aud":      audience,
		"channels": []string{"prices:*", "wallet:0xABC"},
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

type jwk struct {
	kid string
	key any // public or private RSA/ECDSA key, or []byte for an "oct" key
	alg jwkset.ALG
	use jwkset.USE
}

// jwksDoc renders a JWKS document holding keys' public halves.
func jwksDoc(t testing.TB, keys ...jwk) []byte {
	t.Helper()
	var doc jwkset.JWKSMarshal
	for _, k := range keys {
		if b, ok := k.key.([]byte); ok {
			doc.Keys = append(doc.Keys, jwkset.JWKMarshal{KTY: jwkset.KtyOct, KID: k.kid, ALG: k.alg, USE: k.use,
				K: base64.RawURLEncoding.EncodeToString(b)})
			continue
		}
		var pub any
		switch key := k.key.(type) {
		case *rsa.PrivateKey:
			pub = &key.PublicKey
		case *ecdsa.PrivateKey:
			pub = &key.PublicKey
		default:
			pub = key
		}
		j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: k.use}})
		if err != nil {
			t.Fatalf("JWK %s: %v", k.kid, err)
		}
		doc.Keys = append(doc.Keys, j.Marshal())
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func writeFile(t testing.TB, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jwksServer serves a replaceable JWKS document on 127.0.0.1 and counts
// requests.
type jwksServer struct {
	*httptest.Server
	doc    atomic.Pointer[[]byte]
	status atomic.Int32
	hits   atomic.Int32
}

func newJWKSServer(t testing.TB, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(doc)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(s.status.Load()))
		w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

func newVerifier(t testing.TB, cfg Config, now func() time.Time, client *http.Client) *Verifier {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := New(ctx, cfg, now, client)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// reasonOf returns err's Reason ("" for nil); safe in any goroutine.
func reasonOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Errorf("error %v (%T) is not an *auth.Error", err, err)
		return "(not an *auth.Error)"
	}
	if e.Err == nil {
		t.Errorf("*Error with Reason %q has a nil Err", e.Reason)
	}
	return e.Reason
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerify(t *testing.T) {
	k := testKeys()
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey))})
	symKey := []byte("a-symmetric-key-published-in-the-jwks-by-mistake")

	doc := jwksDoc(t,
		jwk{kid: "rsa1", key: k.rsa1, alg: jwkset.AlgRS256, use: jwkset.UseSig},
		jwk{kid: "ec1", key: k.ec1, alg: jwkset.AlgES256},
		jwk{kid: "rsa-noalg", key: k.rsa2},
		jwk{kid: "enc1", key: k.rsaOther, use: jwkset.UseEnc},
		jwk{kid: "p384", key: k.ec384},
		jwk{kid: "sym", key: symKey},
	)
	srv := newJWKSServer(t, doc)
	dir := t.TempDir()
	file := writeFile(t, dir, doc)
	rsaOnly := filepath.Join(dir, "rsa-only.json")
	if err := os.WriteFile(rsaOnly, jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1}), 0o600); err != nil {
		t.Fatal(err)
	}

	now := newClock().now
	verifiers := map[string]*Verifier{
		"hs":      newVerifier(t, Config{HS256Secret: secret}, now, nil),
		"url":     newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: time.Hour}, now, srv.Client()),
		"file":    newVerifier(t, Config{JWKSFile: file}, now, nil),
		"rsaonly": newVerifier(t, Config{JWKSFile: rsaOnly}, now, nil),
		"strict": newVerifier(t, Config{HS256Secret: secret, JWKSFile: file, Issuer: issuer, Audience: audience,
			Leeway: 30 * time.Second}, now, nil),
		"none": newVerifier(t, Config{}, now, nil),
	}

	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), "", c) }
	rs := func(kid string, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, k.rsa1, kid, c) }
	es := func(kid string, c jwt.MapClaims) string { return sign(t, jwt.SigningMethodES256, k.ec1, kid, c) }
	valid := rs("rsa1", claims())
	parts := strings.Split(valid, ".")
	header := b64(`{"alg":"HS256","typ":"JWT"}`)
	payload := b64(`{"sub":"user-1"}`)

	wantFull := Claims{Subject: "user-1", Expires: t0.Add(time.Hour), Channels: []string{"prices:*", "wallet:0xABC"}}

	tests := []struct {
		name     string
		verifier string
		token    string
		reason   string  // "" for accepted
		want     *Claims // checked when accepted and set
	}{
		// Accepted.
		{"HS256", "hs", hs(claims()), "", &wantFull},
		{"RS256 via URL", "url", rs("rsa1", claims()), "", &wantFull},
		{"ES256 via URL", "url", es("ec1", claims()), "", &wantFull},
		{"RS256 via file", "file", rs("rsa1", claims()), "", &wantFull},
		{"ES256 via file", "file", es("ec1", claims()), "", &wantFull},
		{"RS256 key without alg", "url", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-noalg", claims()), "", &wantFull},
		{"RS256 without kid tries every RSA key", "url", sign(t, jwt.SigningMethodRS256, k.rsa2, "", claims()), "", &wantFull},
		{"ES256 without kid", "file", es("", claims()), "", &wantFull},
		{"strict HS256", "strict", hs(claims()), "", &wantFull},
		{"strict RS256", "strict", rs("rsa1", claims()), "", &wantFull},
		{"aud list containing ours", "strict", hs(claims("aud", []string{"other", audience})), "", nil},
		{"no exp", "hs", hs(claims("exp", nil)), "", &Claims{Subject: "user-1", Channels: wantFull.Channels}},
		{"no channels claim is nil", "hs", hs(claims("channels", nil)), "", &Claims{Subject: "user-1", Expires: t0.Add(time.Hour)}},
		{"empty channels claim is empty", "hs", hs(claims("channels", []string{})), "", &Claims{Subject: "user-1", Expires: t0.Add(time.Hour), Channels: []string{}}},
		{"no sub", "hs", hs(claims("sub", nil, "channels", nil)), "", &Claims{Expires: t0.Add(time.Hour)}},
		{"exp within leeway", "strict", hs(claims("exp", t0.Add(-10*time.Second).Unix())), "", nil},
		{"nbf within leeway", "strict", hs(claims("nbf", t0.Add(10*time.Second).Unix())), "", nil},
		{"nbf now", "hs", hs(claims("nbf", t0.Unix())), "", nil},
		{"kid ignored for HS256", "hs", sign(t, jwt.SigningMethodHS256, []byte(secret), "whatever", claims()), "", nil},

		// Time.
		{"expired", "hs", hs(claims("exp", t0.Add(-time.Second).Unix())), ReasonExpired, nil},
		{"expires exactly now", "hs", hs(claims("exp", t0.Unix())), ReasonExpired, nil},
		{"expired beyond leeway", "strict", hs(claims("exp", t0.Add(-31*time.Second).Unix())), ReasonExpired, nil},
		{"expired RS256", "url", rs("rsa1", claims("exp", t0.Add(-time.Hour).Unix())), ReasonExpired, nil},
		{"nbf in the future", "hs", hs(claims("nbf", t0.Add(time.Minute).Unix())), ReasonNotYetValid, nil},
		{"iat in the future", "hs", hs(claims("iat", t0.Add(time.Minute).Unix())), ReasonNotYetValid, nil},

		// Signatures.
		{"wrong secret", "hs", sign(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-long-enough!!"), "", claims()), ReasonSignature, nil},
		{"RS256 by another key under kid rsa1", "url", sign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa1", claims()), ReasonSignature, nil},
		{"ES256 by another key under kid ec1", "file", sign(t, jwt.SigningMethodES256, k.ecOther, "ec1", claims()), ReasonSignature, nil},
		{"RS256 by an unknown key without kid", "url", sign(t, jwt.SigningMethodRS256, k.rsaOther, "", claims()), ReasonSignature, nil},
		{"tampered payload", "url", parts[0] + "." + b64(`{"sub":"admin","channels":["*"]}`) + "." + parts[2], ReasonSignature, nil},
		{"signature of another token", "url", parts[0] + "." + parts[1] + "." + strings.Split(rs("rsa1", claims("sub", "x")), ".")[2], ReasonSignature, nil},
		{"empty signature", "hs", header + "." + payload + ".", ReasonSignature, nil},
		{"signature checked before exp", "hs", sign(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-long-enough!!"), "", claims("exp", 1)), ReasonSignature, nil},

		// Algorithms.
		{"alg none", "hs", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims()), ReasonAlgorithm, nil},
		{"alg none on JWKS", "url", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", claims()), ReasonAlgorithm, nil},
		{"alg None", "strict", b64(`{"alg":"None"}`) + "." + payload + ".", ReasonAlgorithm, nil},
		{"alg unknown", "strict", b64(`{"alg":"XS999"}`) + "." + payload + ".c2ln", ReasonAlgorithm, nil},
		{"key confusion: HS256 signed with the RSA public key", "url", sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", claims()), ReasonAlgorithm, nil},
		{"key confusion: HS256 with the JWKS oct key", "url", sign(t, jwt.SigningMethodHS256, symKey, "sym", claims()), ReasonAlgorithm, nil},
		{"key confusion with a secret configured", "strict", sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", claims()), ReasonSignature, nil},
		{"RS256 without JWKS", "hs", rs("rsa1", claims()), ReasonAlgorithm, nil},
		{"HS384", "hs", sign(t, jwt.SigningMethodHS384, []byte(secret), "", claims()), ReasonAlgorithm, nil},
		{"HS512", "strict", sign(t, jwt.SigningMethodHS512, []byte(secret), "", claims()), ReasonAlgorithm, nil},
		{"RS512", "url", sign(t, jwt.SigningMethodRS512, k.rsa1, "rsa1", claims()), ReasonAlgorithm, nil},
		{"PS256", "url", sign(t, jwt.SigningMethodPS256, k.rsa1, "rsa1", claims()), ReasonAlgorithm, nil},
		{"ES384", "url", sign(t, jwt.SigningMethodES384, k.ec384, "p384", claims()), ReasonAlgorithm, nil},

		// Keys.
		{"unknown kid in file", "file", rs("nope", claims()), ReasonUnknownKey, nil},
		{"kid of an EC key for RS256", "url", rs("ec1", claims()), ReasonUnknownKey, nil},
		{"kid of an RS256 key for ES256", "file", es("rsa1", claims()), ReasonUnknownKey, nil},
		{"kid of a P-384 key for ES256", "url", es("p384", claims()), ReasonUnknownKey, nil},
		{"kid of an enc key", "url", sign(t, jwt.SigningMethodRS256, k.rsaOther, "enc1", claims()), ReasonUnknownKey, nil},
		{"kid of an oct key for RS256", "url", rs("sym", claims()), ReasonUnknownKey, nil},
		{"oct key skipped in file", "file", rs("sym", claims()), ReasonUnknownKey, nil},
		{"ES256 without kid and no EC key", "rsaonly", es("", claims()), ReasonNoKeys, nil},
		{"no key source", "none", hs(claims()), ReasonNoKeys, nil},

		// Issuer and audience.
		{"wrong issuer", "strict", hs(claims("iss", "https://evil.test")), ReasonIssuer, nil},
		{"missing issuer", "strict", hs(claims("iss", nil)), ReasonIssuer, nil},
		{"wrong issuer and expired", "strict", hs(claims("iss", "x", "exp", 1)), ReasonIssuer, nil},
		{"wrong audience", "strict", rs("rsa1", claims("aud", "someone-else")), ReasonAudience, nil},
		{"missing audience", "strict", hs(claims("aud", nil)), ReasonAudience, nil},
		{"empty audience list", "strict", hs(claims("aud", []string{})), ReasonAudience, nil},
		{"wrong audience and expired", "strict", hs(claims("aud", "x", "exp", 1)), ReasonAudience, nil},

		// Malformed.
		{"empty", "hs", "", ReasonMalformed, nil},
		{"one segment", "hs", "abc", ReasonMalformed, nil},
		{"two segments", "hs", "a.b", ReasonMalformed, nil},
		{"four segments", "hs", valid + ".d", ReasonMalformed, nil},
		{"not base64", "hs", "!!!.!!!.!!!", ReasonMalformed, nil},
		{"header not JSON", "hs", b64("nope") + "." + payload + ".", ReasonMalformed, nil},
		{"payload not JSON", "hs", header + "." + b64("nope") + ".", ReasonMalformed, nil},
		{"payload an array", "hs", header + "." + b64("[1]") + ".", ReasonMalformed, nil},
		{"signature not base64", "hs", header + "." + payload + ".!!", ReasonMalformed, nil},
		{"alg missing", "hs", b64(`{"typ":"JWT"}`) + "." + payload + ".", ReasonMalformed, nil},
		{"alg not a string", "hs", b64(`{"alg":7}`) + "." + payload + ".", ReasonMalformed, nil},
		{"channels a string", "hs", hs(claims("channels", "prices:*")), ReasonMalformed, nil},
		{"channels of numbers", "hs", hs(claims("channels", []int{1})), ReasonMalformed, nil},
		{"exp a string", "hs", hs(claims("exp", "tomorrow")), ReasonMalformed, nil},
		{"sub a number", "hs", hs(claims("sub", 42)), ReasonMalformed, nil},
		{"kid a number", "url", b64(`{"alg":"RS256","kid":7}`) + "." + parts[1] + "." + parts[2], ReasonMalformed, nil},
		{"bearer prefix left on", "hs", "Bearer " + hs(claims()), ReasonMalformed, nil},
		{"too long", "hs", strings.Repeat("a", MaxTokenLen+1), ReasonMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := verifiers[tt.verifier]
			got, err := v.Verify(tt.token)
			if r := reasonOf(t, err); r != tt.reason {
				t.Fatalf("Verify on %q: reason %q (err %v), want %q", tt.verifier, r, err, tt.reason)
			}
			if err != nil {
				if got.Subject != "" || !got.Expires.IsZero() || got.Channels != nil {
					t.Errorf("refused token returned claims %+v", got)
				}
				if strings.Contains(err.Error(), tt.token) && len(tt.token) > 10 {
					t.Errorf("error text contains the token: %v", err)
				}
				return
			}
			if tt.want != nil {
				if got.Subject != tt.want.Subject || !got.Expires.Equal(tt.want.Expires) ||
					(got.Channels == nil) != (tt.want.Channels == nil) || strings.Join(got.Channels, ",") != strings.Join(tt.want.Channels, ",") {
					t.Errorf("claims = %#v, want %#v", got, *tt.want)
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestErrorType(t *testing.T) {
	v := newVerifier(t, Config{HS256Secret: secret}, newClock().now, nil)
	_, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), "", claims("exp", 1)))
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonExpired {
		t.Fatalf("err = %v, want an *Error with reason expired", err)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("errors.Is(err, jwt.ErrTokenExpired) = false for %v", err)
	}
	if !strings.HasPrefix(err.Error(), "auth: expired: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

// TestUnknownKidRefetch rotates the served keys: a token with an unknown kid
// fetches the JWKS again, at most once a minute by the injected clock.
func TestUnknownKidRefetch(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1, alg: jwkset.AlgRS256}))
	clk := newClock()
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: time.Hour}, clk.now, srv.Client())
	tok1 := sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims())
	tok2 := sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa2", claims())

	check := func(step, token, reason string, hits int32) {
		t.Helper()
		_, err := v.Verify(token)
		if r := reasonOf(t, err); r != reason {
			t.Fatalf("%s: reason %q (%v), want %q", step, r, err, reason)
		}
		if got := srv.hits.Load(); got != hits {
			t.Fatalf("%s: %d fetches, want %d", step, got, hits)
		}
	}
	check("before rotation", tok1, "", 1)
	srv.set(jwksDoc(t, jwk{kid: "rsa2", key: k.rsa2, alg: jwkset.AlgRS256})) // rsa1 revoked
	check("rotated key, unknown kid fetches", tok2, "", 2)
	check("revoked key", tok1, ReasonUnknownKey, 2)
	check("another unknown kid within the minute does not fetch", sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa3", claims()), ReasonUnknownKey, 2)
	check("known kid still fine", tok2, "", 2)

	srv.set(jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1}, jwk{kid: "rsa2", key: k.rsa2}))
	clk.advance(refetchEvery)
	check("a minute later an unknown kid fetches again", tok1, "", 3)
	check("both keys now", tok2, "", 3)

	// A failing fetch keeps the keys held.
	srv.status.Store(http.StatusInternalServerError)
	clk.advance(refetchEvery)
	check("failed refetch", sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa9", claims()), ReasonUnknownKey, 4)
	check("keys kept after a failed fetch", tok1, "", 4)
}

// TestBackgroundRefresh: jwks_refresh picks up a rotated key without any
// unknown kid (the token has none).
func TestBackgroundRefresh(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1}))
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: 20 * time.Millisecond}, newClock().now, srv.Client())
	tok := sign(t, jwt.SigningMethodRS256, k.rsa2, "", claims())
	if _, err := v.Verify(tok); reasonOf(t, err) != ReasonSignature {
		t.Fatalf("before rotation: %v, want a signature error", err)
	}
	srv.set(jwksDoc(t, jwk{kid: "rsa2", key: k.rsa2}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(tok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated key not picked up after %d fetches: %v", srv.hits.Load(), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func refreshGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	// Goroutines, not frames: one refreshing goroutine can show two
	// frames of the package's closures (one calling the other).
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "jwkset.NewStorageFromHTTP.func") {
			n++
		}
	}
	return n
}

func TestCloseStopsRefresh(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	k := testKeys()
	srv := newJWKSServer(t, jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1}))
	// Verifiers of earlier tests were closed; let their goroutines finish.
	for deadline := time.Now().Add(5 * time.Second); refreshGoroutines() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("refresh goroutines of earlier tests still running")
		}
		time.Sleep(time.Millisecond)
	}
	const before = 0
	v, err := New(context.Background(), Config{JWKSURL: srv.URL, JWKSRefresh: 10 * time.Millisecond}, newClock().now, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for srv.hits.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if n := refreshGoroutines(); n != before+1 {
		t.Fatalf("%d refresh goroutines running, want %d", n, before+1)
	}
	v.Close()
	v.Close() // idempotent
	for deadline := time.Now().Add(5 * time.Second); refreshGoroutines() != before; {
		if time.Now().After(deadline) {
			t.Fatal("refresh goroutine still running after Close")
		}
		time.Sleep(time.Millisecond)
	}
	hits := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if got := srv.hits.Load(); got != hits {
		t.Errorf("%d fetches after Close", got-hits)
	}
	// The keys held still verify, without fetching.
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims())); err != nil {
		t.Errorf("Verify after Close: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa1, "other", claims())); reasonOf(t, err) != ReasonUnknownKey {
		t.Errorf("unknown kid after Close: %v", err)
	}
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

func TestNewErrors(t *testing.T) {
	k := testKeys()
	good := jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1})
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	failing := newJWKSServer(t, []byte(`{"error":"down"}`))
	failing.status.Store(http.StatusServiceUnavailable)
	garbage := newJWKSServer(t, []byte(`<html>`))
	badKey := newJWKSServer(t, []byte(`{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"!!"}]}`))

	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		cfg     Config
		client  *http.Client
		ctx     context.Context
		timeout time.Duration
		is      error // when set, errors.Is(err, is) must hold
	}{
		{name: "missing file", cfg: Config{JWKSFile: filepath.Join(dir, "missing.json")}},
		{name: "file not JSON", cfg: Config{JWKSFile: file("bad.json", "keys: []")}},
		{name: "file without keys", cfg: Config{JWKSFile: file("empty.json", `{"keys":[]}`)}},
		{name: "file with only an oct key", cfg: Config{JWKSFile: file("oct.json", `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}`)}},
		{name: "file with a broken key", cfg: Config{JWKSFile: file("broken.json", `{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ","kid":"e"}]}`)}},
		{name: "URL not parseable", cfg: Config{JWKSURL: "::nope"}},
		{name: "URL answers 503", cfg: Config{JWKSURL: failing.URL}, client: failing.Client()},
		{name: "URL answers garbage", cfg: Config{JWKSURL: garbage.URL}, client: garbage.Client()},
		{name: "URL serves a broken key", cfg: Config{JWKSURL: badKey.URL}, client: badKey.Client()},
		{name: "good file but failing URL", cfg: Config{JWKSFile: file("good.json", string(good)), JWKSURL: failing.URL}, client: failing.Client()},
		{name: "ctx already cancelled", cfg: Config{JWKSURL: hanging.URL}, client: hanging.Client(), ctx: cancelled, is: context.Canceled},
		{name: "ctx deadline while fetching", cfg: Config{JWKSURL: hanging.URL}, client: hanging.Client(), timeout: 100 * time.Millisecond, is: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			v, err := New(ctx, tt.cfg, nil, tt.client)
			if err == nil {
				v.Close()
				t.Fatal("New succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("New took %v", d)
			}
			t.Logf("%v", err)
		})
	}
}

func TestNewDoesNotLeakOnError(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	if _, err := New(context.Background(), Config{JWKSURL: srv.URL, JWKSRefresh: time.Millisecond}, nil, srv.Client()); err == nil {
		t.Fatal("New succeeded")
	}
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

// TestConcurrentVerify is for -race: many goroutines verify, some with
// unknown kids that may refetch, while the background refresh runs.
func TestConcurrentVerify(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, jwksDoc(t, jwk{kid: "rsa1", key: k.rsa1}, jwk{kid: "ec1", key: k.ec1}))
	clk := newClock()
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: 5 * time.Millisecond, HS256Secret: secret}, clk.now, srv.Client())
	tokens := map[string]string{
		sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims()):     "",
		sign(t, jwt.SigningMethodES256, k.ec1, "ec1", claims()):       "",
		sign(t, jwt.SigningMethodHS256, []byte(secret), "", claims()): "",
		sign(t, jwt.SigningMethodRS256, k.rsa2, "ghost", claims()):    ReasonUnknownKey,
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				for tok, want := range tokens {
					_, err := v.Verify(tok)
					if r := reasonOf(t, err); r != want {
						t.Errorf("reason %q (%v), want %q", r, err, want)
						return
					}
				}
				clk.advance(10 * time.Second)
			}
		})
	}
	wg.Wait()
}

func TestAllows(t *testing.T) {
	const addr = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
	lower := strings.ToLower(addr)
	// canon lower-cases wallet addresses, as the hub does.
	canon := func(ch string) string {
		if rest, ok := strings.CutPrefix(ch, "wallet:"); ok {
			return "wallet:" + strings.ToLower(rest)
		}
		return ch
	}
	tests := []struct {
		name     string
		channels []string
		channel  string
		canon    func(string) string
		want     bool
	}{
		{"nil claim allows nothing", nil, "prices:ETH-USD", canon, false},
		{"empty claim allows nothing", []string{}, "prices:ETH-USD", canon, false},
		{"star alone", []string{"*"}, "wallet:" + lower, canon, true},
		{"star alone nil canon", []string{"*"}, "anything:at:all", nil, true},
		{"prefix wildcard", []string{"prices:*"}, "prices:ETH-USD", canon, true},
		{"prefix wildcard, empty tail", []string{"prices:*"}, "prices:", canon, true},
		{"prefix wildcard, deeper tail", []string{"prices:*"}, "prices:ETH-USD:1m", canon, true},
		{"prefix wildcard needs the colon", []string{"prices:*"}, "prices", canon, false},
		{"prefix wildcard, other namespace", []string{"prices:*"}, "pricesx:ETH", canon, false},
		{"wallet wildcard", []string{"wallet:*"}, "wallet:" + lower, canon, true},
		{"bare prefix wildcard", []string{"prices*"}, "prices:ETH", canon, true},
		{"exact", []string{"market:overview"}, "market:overview", canon, true},
		{"exact is not a prefix", []string{"market:overview"}, "market:overview2", canon, false},
		{"exact is not a wildcard", []string{"market:overview"}, "market:", canon, false},
		{"mixed-case wallet pattern canonicalised", []string{"wallet:" + addr}, "wallet:" + lower, canon, true},
		{"mixed-case wallet pattern without canon", []string{"wallet:" + addr}, "wallet:" + lower, nil, false},
		{"mixed-case wallet wildcard prefix canonicalised", []string{"wallet:0xAbCd*"}, "wallet:" + lower, canon, true},
		{"mixed-case wallet wildcard prefix without canon", []string{"wallet:0xAbCd*"}, "wallet:" + lower, nil, false},
		{"other wallet", []string{"wallet:" + addr}, "wallet:0x0000000000000000000000000000000000000000", canon, false},
		{"channel is compared as given", []string{"wallet:" + lower}, "wallet:" + addr, canon, false},
		{"inner star is literal", []string{"pri*ces"}, "prices", canon, false},
		{"inner star matches itself", []string{"pri*ces"}, "pri*ces", canon, true},
		{"empty pattern matches nothing", []string{""}, "", canon, false},
		{"any of several", []string{"market:overview", "wallet:" + addr, "prices:*"}, "prices:BTC-USD", canon, true},
		{"none of several", []string{"market:overview", "wallet:" + addr}, "prices:BTC-USD", canon, false},
		{"canon is case-specific", []string{"PRICES:*"}, "prices:ETH", canon, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Claims{Channels: tt.channels}
			if got := c.Allows(tt.channel, tt.canon); got != tt.want {
				t.Errorf("Claims{Channels: %q}.Allows(%q) = %v, want %v", tt.channels, tt.channel, got, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	decode := func(in map[string]any) (Config, config.Problems) {
		var c Config
		var ps config.Problems
		config.Decoder{}.Decode("server.auth", in, &c, &ps)
		return c, ps
	}

	c, ps := decode(nil)
	if len(ps) != 0 {
		t.Fatalf("defaults: %v", ps)
	}
	if c.JWKSRefresh != time.Hour || c.Leeway != 0 || c.Enabled() {
		t.Errorf("defaults = %+v, Enabled %v", c, c.Enabled())
	}
	if keys := strings.Join(config.Keys(config.FieldsOf(Config{})), ","); keys != "hs256_secret,jwks_file,jwks_url,jwks_refresh,issuer,audience,leeway" {
		t.Errorf("keys = %s", keys)
	}

	for _, in := range []map[string]any{
		{"hs256_secret": secret},
		{"jwks_file": "/etc/feedd/jwks.json"},
		{"jwks_url": "https://issuer.test/.well-known/jwks.json", "jwks_refresh": "5m", "leeway": "30s", "issuer": issuer, "audience": audience},
		{"jwks_url": "http://127.0.0.1:8080/jwks"},
	} {
		c, ps := decode(in)
		if len(ps) != 0 {
			t.Errorf("%v: %v", in, ps)
		}
		if !c.Enabled() {
			t.Errorf("%v: not Enabled", in)
		}
	}

	tests := []struct {
		in       map[string]any
		path     string
		contains string
	}{
		{map[string]any{"jwks_url": "ftp://issuer.test/jwks"}, "server.auth.jwks_url", "http(s)"},
		{map[string]any{"jwks_url": "issuer.test/jwks"}, "server.auth.jwks_url", "http(s)"},
		{map[string]any{"jwks_url": "https:///jwks"}, "server.auth.jwks_url", "http(s)"},
		{map[string]any{"jwks_url": "https://user:hunter2@/jwks"}, "server.auth.jwks_url", "http(s)"},
		{map[string]any{"jwks_url": "http://[::1"}, "server.auth.jwks_url", "not a valid URL"},
		{map[string]any{"hs256_secret": "hunter2"}, "server.auth.hs256_secret", "at least 32"},
		{map[string]any{"jwks_url": "https://issuer.test/jwks", "jwks_refresh": "500ms"}, "server.auth.jwks_refresh", ""},
	}
	for _, tt := range tests {
		_, ps := decode(tt.in)
		if len(ps) != 1 || ps[0].Path != tt.path || !strings.Contains(ps[0].Msg, tt.contains) {
			t.Errorf("%v: problems %q, want one at %s containing %q", tt.in, ps, tt.path, tt.contains)
			continue
		}
		if strings.Contains(ps[0].Msg, "hunter2") {
			t.Errorf("%v: problem reveals the secret: %s", tt.in, ps[0].Msg)
		}
	}
}
