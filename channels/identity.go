package channels

import "time"

// Identity is who a connection's token says it is.
type Identity struct {
	// Subject is the token's sub claim.
	Subject string
	// Expires is when the token expires; zero for never.
	Expires time.Time
	// Allows reports whether the token's channels claim lets it read the
	// canonical channel name. Nil allows nothing.
	Allows func(channel string) bool
}

// TokenVerifier checks tokens. Errors should say why the token was refused.
type TokenVerifier interface {
	Verify(token string) (Identity, error)
}
