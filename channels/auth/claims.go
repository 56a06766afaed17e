package auth

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of a verified token that feedd uses.
type Claims struct {
	// Subject is the sub claim, the user id ("" when the token has none).
	Subject string
	// Expires is the exp claim; zero if the token has no exp.
	Expires time.Time
	// Channels is the "channels" claim: channel patterns the user may read.
	// It is nil when the claim is absent (or null), and non-nil (possibly
	// empty) when the token carries a list.
	Channels []string
}

// Allows reports whether the channels claim permits reading channel.
//
// Patterns are exact channel names or end in "*" meaning any tail (including
// an empty one, and tails containing ':'), e.g. "prices:*" matches
// "prices:ETH-USD", "wallet:*" matches any wallet channel; "*" alone matches
// everything. A "*" anywhere but at the end is an ordinary character. Empty
// patterns match nothing.
//
// canon normalises a channel name (the hub lower-cases EVM addresses); it is
// applied to every non-wildcard pattern and to the prefix of wildcard
// patterns before comparing; nil means identity. channel itself is compared
// as given, so callers pass the canonical name.
//
// A nil Channels claim allows nothing here (the caller decides what an absent
// claim means).
func (c Claims) Allows(channel string, canon func(string) string) bool {
	if canon == nil {
		canon = func(s string) string { return s }
	}
	for _, p := range c.Channels {
		switch {
		case p == "":
		case p == "*":
			return true
		case strings.HasSuffix(p, "*"):
			if strings.HasPrefix(channel, canon(p[:len(p)-1])) {
				return true
			}
		default:
			if channel == canon(p) {
				return true
			}
		}
	}
	return false
}

// tokenClaims is what a token's payload is decoded into. Decoding is strict
// about types: a claim of the wrong JSON type makes the token malformed.
type tokenClaims struct {
	jwt.RegisteredClaims
	Channels []string `json:"channels"`
}

func (tc *tokenClaims) claims() Claims {
	c := Claims{Subject: tc.Subject, Channels: tc.Channels}
	if tc.ExpiresAt != nil {
		c.Expires = tc.ExpiresAt.Time
	}
	return c
}
