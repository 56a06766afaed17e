package chaintest

import (
	"fmt"
	"testing"

	"github.com/feedd/feedd/internal/telemetry"
)

// SolanaOptions configure StartSolana.
type SolanaOptions struct {
	// RPC and WS are the node's endpoints (a solanatest.Server's RPCURL and
	// WSURL, or the litesvm facade's).
	RPC, WS string
	// Commitment of the chain; default confirmed.
	Commitment string
	// Extra is YAML appended to the configuration: feeds:, channels: …
	Extra string
	// Telemetry is handed to the daemon.
	Telemetry telemetry.Options
}

// StartSolana runs the daemon with a solana chain called "solana" on the
// given endpoints (fast reconnects, short timeouts) and the feeds of Extra,
// until the test ends.
func StartSolana(t testing.TB, opts SolanaOptions) *Env {
	t.Helper()
	if opts.Commitment == "" {
		opts.Commitment = "confirmed"
	}
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_timeout: 10s
log:
  level: debug
chains:
  - name: solana
    type: solana
    rpc: [%q]
    ws: [%q]
    commitment: %s
    request_timeout: 5s
    backoff_initial: 10ms
    backoff_max: 200ms
%s`, opts.RPC, opts.WS, opts.Commitment, opts.Extra)
	return StartDaemon(t, cfg, opts.Telemetry)
}
