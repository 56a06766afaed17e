package evm

import (
	"context"
	"time"

	"github.com/feedd/feedd/plugins"
)

// Retry runs read until it succeeds or ctx ends, waiting 100 ms, doubling
// to 10 s, between attempts and logging each failure with what. A block a
// feed cannot read is retried rather than skipped: the head stream does not
// replay it, so the node's trouble holds the feed back instead, visibly in
// the logs and the head lag. It reports false when ctx ended first.
func Retry(ctx context.Context, h *plugins.Host, what string, block uint64, read func() error) bool {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := read()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		h.Logger().Warn(what+" failed; retrying", "block", block, "attempt", attempt, "error", err, "in", delay)
		t := h.Clock().NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C():
		}
		delay = min(2*delay, 10*time.Second)
		h.Alive()
	}
}
