package auth

import (
	"net/url"
	"time"

	"github.com/feedd/feedd/internal/config"
)

// MinSecretLen is the shortest hs256_secret Validate accepts: RFC 7518
// section 3.2 requires an HMAC key at least as long as the hash output (256
// bits for HS256).
const MinSecretLen = 32

// Config is the server.auth configuration section. Struct tags drive our
// config decoder (see internal/config/spec.go for the tag meanings: yaml,
// default, doc, min, max, enum). The zero Config configures no key source;
// see Enabled.
type Config struct {
	HS256Secret string        `yaml:"hs256_secret" doc:"shared secret for HS256 tokens; write ${VAR} to keep it out of the file"`
	JWKSFile    string        `yaml:"jwks_file" doc:"JWKS document with RS256/ES256 public keys, read at start and on reload"`
	JWKSURL     string        `yaml:"jwks_url" doc:"URL of a JWKS document, refreshed in the background"`
	JWKSRefresh time.Duration `yaml:"jwks_refresh" default:"1h" min:"1s" doc:"how often jwks_url is fetched again (unknown key ids also trigger a fetch, at most once a minute)"`
	Issuer      string        `yaml:"issuer" doc:"required iss claim, when set"`
	Audience    string        `yaml:"audience" doc:"required aud claim, when set"`
	Leeway      time.Duration `yaml:"leeway" default:"0s" doc:"clock skew allowed on exp/nbf"`
}

// Validate reports, below the section's path, a jwks_url that is not an
// absolute http or https URL with a host, and an hs256_secret shorter than
// MinSecretLen bytes (without echoing the secret). It does not touch the
// file system or the network: New reads jwks_file and fetches jwks_url.
func (c *Config) Validate(v *config.Validation) {
	if c.HS256Secret != "" && len(c.HS256Secret) < MinSecretLen {
		v.Errorf("hs256_secret", "too short: %d bytes, HS256 needs at least %d (RFC 7518 section 3.2); generate one with e.g. `openssl rand -base64 48`",
			len(c.HS256Secret), MinSecretLen)
	}
	if c.JWKSURL != "" {
		const example = " (e.g. https://issuer.example.com/.well-known/jwks.json)"
		u, err := url.Parse(c.JWKSURL)
		switch {
		case err != nil:
			v.Errorf("jwks_url", "not a valid URL%s", example)
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.Errorf("jwks_url", "%q is not an absolute http(s) URL%s", u.Redacted(), example)
		}
	}
}

// Enabled reports whether any key source (hs256_secret, jwks_file or
// jwks_url) is configured, i.e. whether a Verifier built from c can accept
// any token.
func (c Config) Enabled() bool {
	return c.HS256Secret != "" || c.JWKSFile != "" || c.JWKSURL != ""
}
