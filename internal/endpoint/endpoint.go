// Package endpoint keeps node URLs' secrets out of logs, errors and status
// pages: operators put API keys in paths, queries and user info.
package endpoint

import (
	"net/url"
	"strings"
)

// Redact returns the scheme and host of an endpoint URL, or
// "(malformed endpoint)" when it has none.
func Redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "(malformed endpoint)"
	}
	return u.Scheme + "://" + u.Host
}

// redactedError hides an endpoint's path and query in the text of an error
// and keeps the wrapped error for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactError returns err with the endpoint's full URL (and its path, query
// and user info, wherever they appear in the text) replaced by Redact(raw).
// The result still matches err with errors.Is and errors.As; nil stays nil.
func RedactError(err error, raw string) error {
	redacted := Redact(raw)
	if err == nil || raw == redacted {
		return err
	}
	msg := err.Error()
	out := strings.ReplaceAll(msg, raw, redacted)
	if u, perr := url.Parse(raw); perr == nil {
		for _, secret := range []string{u.RawQuery, u.User.String(), u.Path} {
			if len(secret) > 1 {
				out = strings.ReplaceAll(out, secret, "…")
			}
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}
