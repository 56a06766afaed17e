// Package auth verifies the JWTs clients present to the WebSocket server (see
// docs/PROTOCOL.md, "Authentication"): HS256 with a shared secret, RS256 and
// ES256 with public keys from a JWKS file or URL. Parsing and signature
// checks are done by github.com/golang-jwt/jwt/v5; JWKS documents are read
// and refreshed by github.com/MicahParks/jwkset and
// github.com/MicahParks/keyfunc/v3.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Reasons a token is refused, as Error.Reason. They are fixed strings meant
// for metric labels.
const (
	// ReasonMalformed: not a well-formed JWT (segments, base64, JSON, claim
	// types, a non-string kid), or longer than MaxTokenLen.
	ReasonMalformed = "malformed"
	// ReasonSignature: the signature does not verify with the key chosen.
	ReasonSignature = "signature"
	// ReasonExpired: exp is not after now (minus the leeway).
	ReasonExpired = "expired"
	// ReasonNotYetValid: nbf or iat is after now (plus the leeway).
	ReasonNotYetValid = "not_yet_valid"
	// ReasonIssuer: an issuer is configured and iss is missing or differs.
	ReasonIssuer = "issuer"
	// ReasonAudience: an audience is configured and aud is missing or does
	// not contain it.
	ReasonAudience = "audience"
	// ReasonAlgorithm: the token's alg is not one this verifier accepts
	// (HS256 only with a secret, RS256/ES256 only with a JWKS; never "none").
	ReasonAlgorithm = "algorithm"
	// ReasonUnknownKey: the token names a kid for which the JWKS holds no key
	// usable with its alg (none with that id even after a refetch, or the key
	// is of another type, curve, alg or use).
	ReasonUnknownKey = "unknown_key"
	// ReasonNoKeys: the verifier has nothing to check the token with: no key
	// source is configured, or the token has no kid and the JWKS holds no key
	// usable with its alg.
	ReasonNoKeys = "no_keys"
)

// MaxTokenLen is the longest token Verify parses; longer ones are refused as
// malformed without decoding.
const MaxTokenLen = 16 << 10

const (
	// fetchTimeout bounds each background fetch of jwks_url (the first one
	// is also bounded by New's ctx).
	fetchTimeout = 30 * time.Second
	// refetchTimeout bounds the fetch an unknown kid triggers inside Verify.
	refetchTimeout = 5 * time.Second
	// refetchEvery is the least time between fetches triggered by unknown
	// kids.
	refetchEvery = time.Minute
)

// Error is the error Verify returns for every refused token.
type Error struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Err is the underlying cause; never nil. Its text never contains the
	// token.
	Err error
}

// Error returns "auth: <reason>: <cause>".
func (e *Error) Error() string {
	return "auth: " + e.Reason + ": " + e.Err.Error()
}

// AuthReason returns e.Reason (metrics count refusals by it).
func (e *Error) AuthReason() string { return e.Reason }

// Unwrap returns e.Err, so errors.Is sees the jwt/v5 sentinel errors.
func (e *Error) Unwrap() error { return e.Err }

func fail(reason string, err error) *Error { return &Error{Reason: reason, Err: err} }

// Verifier checks tokens against the configured keys. Its methods are safe
// for concurrent use.
type Verifier struct {
	parser *jwt.Parser
	cfg    Config
	now    func() time.Time
	secret []byte     // nil without hs256_secret
	keys   *keySource // nil without jwks_file and jwks_url

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
}

// keySource is the JWKS side: the file's keys and/or the URL's.
type keySource struct {
	ctx   context.Context
	store jwkset.Storage  // every key, never fetches
	kf    keyfunc.Keyfunc // looks a kid up in store
	// refetch looks a kid up and, when it is unknown, fetches jwks_url again
	// first; nil without jwks_url. limiter rations its use.
	refetch keyfunc.Keyfunc
	limiter *rate.Limiter
	now     func() time.Time
}

// New builds a verifier for cfg.
//
// With JWKSFile it reads and parses the file now (keys of unsupported types
// and symmetric keys are skipped; a file without any usable key is an error).
// With JWKSURL it fetches once, bounded by ctx (and by 30s), failing when
// that fetch fails; then it keeps refreshing every cfg.JWKSRefresh (zero
// means 1h) in a goroutine that stops when Close is called, and a token with
// an unknown kid triggers a fetch at most once a minute (by now's clock). A
// failed background fetch keeps the keys already held and is logged with
// slog.Default at warn level. client makes the requests (nil means
// http.DefaultClient).
//
// now is the clock (nil = time.Now) used for exp/nbf/iat checks so tests are
// exact. A cfg without any key source yields a Verifier that refuses every
// token with ReasonNoKeys; see Config.Enabled. New does not call
// cfg.Validate.
func New(ctx context.Context, cfg Config, now func() time.Time, client *http.Client) (*Verifier, error) {
	if now == nil {
		now = time.Now
	}
	life, cancel := context.WithCancel(context.Background())
	v := &Verifier{cfg: cfg, now: now, ctx: life, cancel: cancel}
	opts := []jwt.ParserOption{jwt.WithTimeFunc(now), jwt.WithLeeway(cfg.Leeway), jwt.WithIssuedAt()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	if cfg.HS256Secret != "" {
		v.secret = []byte(cfg.HS256Secret)
	}
	if cfg.JWKSFile != "" || cfg.JWKSURL != "" {
		ks, err := newKeySource(ctx, life, cancel, cfg, now, client)
		if err != nil {
			cancel()
			return nil, err
		}
		v.keys = ks
	}
	return v, nil
}

func newKeySource(ctx, life context.Context, cancel context.CancelFunc, cfg Config, now func() time.Time, client *http.Client) (*keySource, error) {
	ks := &keySource{ctx: life, now: now}
	var given jwkset.Storage
	if cfg.JWKSFile != "" {
		var err error
		if given, err = readJWKSFile(cfg.JWKSFile); err != nil {
			return nil, err
		}
	}
	uses := []jwkset.USE{jwkset.UseSig, ""} // keys marked "enc" are not for us
	if cfg.JWKSURL == "" {
		ks.store = given
		ks.kf, _ = keyfunc.New(keyfunc.Options{Ctx: life, Storage: given, UseWhitelist: uses})
		return ks, nil
	}

	shown := cfg.JWKSURL
	if u, err := url.Parse(shown); err == nil {
		shown = u.Redacted()
	}
	interval := cfg.JWKSRefresh
	if interval <= 0 {
		interval = time.Hour
	}
	// The library ties the first fetch and the refresh goroutine to one
	// context; the first fetch must also end with ctx, so ctx ending now
	// ends everything (and New fails).
	stop := context.AfterFunc(ctx, cancel)
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:          client,
		Ctx:             life,
		HTTPTimeout:     fetchTimeout,
		RefreshInterval: interval,
		RefreshErrorHandler: func(_ context.Context, err error) {
			if life.Err() == nil { // not the noise of Close
				slog.Default().Warn("auth: fetching jwks_url failed; keeping the keys held", "url", shown, "error", err)
			}
		},
	})
	if !stop() { // ctx ended during the fetch, which then failed or is void
		if err == nil {
			err = context.Cause(ctx)
		} else {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: jwks_url %s: %w", shown, err)
	}
	ks.store, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		Given:    given,
		HTTPURLs: map[string]jwkset.Storage{cfg.JWKSURL: remote},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks_url %s: %w", shown, err)
	}
	// The refetching store must not wait on a limiter inside Verify (the
	// library would block up to its wait bound); Verify rations refetches
	// itself with a non-blocking limiter instead.
	refetching, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		Given:             given,
		HTTPURLs:          map[string]jwkset.Storage{cfg.JWKSURL: remote},
		RateLimitWaitMax:  refetchTimeout, // also bounds the fetch
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: jwks_url %s: %w", shown, err)
	}
	ks.kf, _ = keyfunc.New(keyfunc.Options{Ctx: life, Storage: ks.store, UseWhitelist: uses})
	ks.refetch, _ = keyfunc.New(keyfunc.Options{Ctx: life, Storage: refetching, UseWhitelist: uses})
	ks.limiter = rate.NewLimiter(rate.Every(refetchEvery), 1)
	return ks, nil
}

// readJWKSFile parses a JWKS document, skipping keys we could never use.
func readJWKSFile(path string) (jwkset.Storage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks_file: %w", err)
	}
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("auth: jwks_file %s: not a JWKS document: %w", path, err)
	}
	store := jwkset.NewMemoryStorage()
	n := 0
	for i, m := range doc.Keys {
		if m.KTY == jwkset.KtyOct {
			continue // symmetric: HS256 uses hs256_secret only
		}
		// Private: false keeps only the public half of a private key.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			return nil, fmt.Errorf("auth: jwks_file %s: key %d (kid %q): %w", path, i, m.KID, err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			return nil, fmt.Errorf("auth: jwks_file %s: key %d (kid %q): %w", path, i, m.KID, err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("auth: jwks_file %s: no usable RSA or EC key", path)
	}
	return store, nil
}

// Verify checks token's signature, algorithm and registered claims (exp, nbf,
// iat with the configured leeway against the clock given to New; iss and aud
// when configured) and returns its claims. Tokens without exp are accepted
// (Claims.Expires is zero). Every refusal is an *Error whose Reason is one of
// the Reason* constants; its Claims are zero.
//
// Verify may block on the network only when the token names a kid the JWKS
// lacks, jwks_url is configured, and no such refetch happened in the last
// minute; that fetch is bounded by 5s and by Close. After Close, Verify still
// checks tokens against the keys already held.
func (v *Verifier) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, fail(ReasonMalformed, fmt.Errorf("token is %d bytes, more than %d", len(token), MaxTokenLen))
	}
	if v.secret == nil && v.keys == nil {
		return Claims{}, fail(ReasonNoKeys, errors.New("no key source configured"))
	}
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &tc, v.keyFor)
	if err != nil {
		return Claims{}, v.classify(tok, &tc, err)
	}
	if alg := tok.Method.Alg(); !v.accepts(alg) { // keyFor already refused it; belt and braces
		return Claims{}, fail(ReasonAlgorithm, fmt.Errorf("algorithm %q is not accepted", alg))
	}
	return tc.claims(), nil
}

// Close stops the background refresh of jwks_url and abandons a fetch in
// flight; the refresh goroutine ends promptly. It is safe to call more than
// once, and from any goroutine.
func (v *Verifier) Close() { v.cancel() }

func (v *Verifier) accepts(alg string) bool {
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		return v.secret != nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		return v.keys != nil
	}
	return false
}

// keyFor is the jwt.Keyfunc: it picks the key by algorithm first, so a key
// is only ever used with the algorithm family it belongs to (an HS256 token
// can never be checked against a JWKS key, nor an RS256 one against the
// secret).
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !v.accepts(alg) {
		why := "is not accepted"
		switch alg {
		case jwt.SigningMethodHS256.Alg():
			why += " (no hs256_secret configured)"
		case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
			why += " (no jwks_file or jwks_url configured)"
		}
		return nil, fail(ReasonAlgorithm, fmt.Errorf("algorithm %q %s", alg, why))
	}
	if alg == jwt.SigningMethodHS256.Alg() {
		return v.secret, nil
	}
	return v.keys.lookup(t, alg)
}

func (ks *keySource) lookup(t *jwt.Token, alg string) (any, error) {
	h, ok := t.Header["kid"]
	if !ok {
		return ks.all(alg)
	}
	kid, ok := h.(string)
	if !ok {
		return nil, fail(ReasonMalformed, errors.New("kid header is not a string"))
	}
	key, err := ks.kf.KeyfuncCtx(ks.ctx)(t)
	if err != nil && errors.Is(err, jwkset.ErrKeyNotFound) && ks.refetch != nil && ks.limiter.AllowN(ks.now(), 1) {
		key, err = ks.refetch.KeyfuncCtx(ks.ctx)(t)
	}
	if err != nil {
		return nil, fail(ReasonUnknownKey, fmt.Errorf("kid %q: %w", kid, err))
	}
	pub, ok := fits(key, alg)
	if !ok {
		return nil, fail(ReasonUnknownKey, fmt.Errorf("kid %q: the key (%T) cannot check %s", kid, key, alg))
	}
	return pub, nil
}

// all returns every key usable with alg, for tokens without a kid.
func (ks *keySource) all(alg string) (any, error) {
	jwks, err := ks.store.KeyReadAll(ks.ctx)
	if err != nil {
		return nil, fail(ReasonNoKeys, err)
	}
	var set jwt.VerificationKeySet
	for _, j := range jwks {
		m := j.Marshal()
		if (m.USE != "" && m.USE != jwkset.UseSig) || (m.ALG != "" && m.ALG.String() != alg) {
			continue
		}
		if pub, ok := fits(j.Key(), alg); ok {
			set.Keys = append(set.Keys, pub)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fail(ReasonNoKeys, fmt.Errorf("token has no kid and no %s key is held", alg))
	}
	return set, nil
}

// fits returns key's public half when it can check alg: an RSA key for
// RS256, a P-256 key for ES256.
func fits(key any, alg string) (any, bool) {
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = k.Public()
	}
	switch alg {
	case jwt.SigningMethodRS256.Alg():
		k, ok := key.(*rsa.PublicKey)
		return k, ok
	case jwt.SigningMethodES256.Alg():
		k, ok := key.(*ecdsa.PublicKey)
		return k, ok && k.Curve != nil && k.Curve.Params().Name == "P-256"
	}
	return nil, false
}

// classify turns a jwt/v5 error into an *Error.
func (v *Verifier) classify(tok *jwt.Token, tc *tokenClaims, err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or not a string, or a name jwt/v5 does not know.
		if tok != nil {
			if _, ok := tok.Header["alg"].(string); ok {
				return fail(ReasonAlgorithm, err)
			}
		}
		return fail(ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(ReasonSignature, err)
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		// The signature verified; several claims may be wrong at once, so
		// report the most specific in a fixed order. Missing iss/aud come
		// back as ErrTokenRequiredClaimMissing, hence the direct checks.
		switch {
		case errors.Is(err, jwt.ErrTokenInvalidIssuer) || v.cfg.Issuer != "" && tc.Issuer != v.cfg.Issuer:
			return fail(ReasonIssuer, err)
		case errors.Is(err, jwt.ErrTokenInvalidAudience) || v.cfg.Audience != "" && !slices.Contains(tc.Audience, v.cfg.Audience):
			return fail(ReasonAudience, err)
		case errors.Is(err, jwt.ErrTokenExpired):
			return fail(ReasonExpired, err)
		case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return fail(ReasonNotYetValid, err)
		}
	}
	return fail(ReasonMalformed, err)
}
