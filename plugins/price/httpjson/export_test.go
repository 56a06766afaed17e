package httpjson

var RetryAfter = retryAfter
