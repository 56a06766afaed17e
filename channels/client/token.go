package client

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// tokenExpiry reads the exp claim of a JWT without verifying it (the
// daemon does that); ok is false when tok is not a JWT with a numeric exp.
func tokenExpiry(tok string) (exp time.Time, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	sec, frac := math.Modf(*claims.Exp)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// refreshDelay is how long from now to refresh a token expiring at exp:
// before stands ahead of expiry, at most a quarter of the time left.
func refreshDelay(now, exp time.Time, before time.Duration) time.Duration {
	left := exp.Sub(now)
	if left <= 0 {
		return 0
	}
	return left - min(before, left/4)
}
