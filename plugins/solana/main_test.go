// Package solana_test runs the real daemon with its solana chain and the
// solana.slots, solana.wallets and solana.tx plugins against a real Solana
// VM: the LiteSVM facade of internal/solanatest/litesvm, one node shared by
// the package's tests. Transactions are real, signed with solana-go. The
// facade needs node (>= 20) and npm on PATH; without them every test fails
// (CI installs them).
package solana_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/internal/solanatest/litesvm"
)

// The facade shared by the package's tests; startErr says why it is
// missing.
var (
	node     *litesvm.Node
	startErr error
	// nodeLog keeps the facade's output, shown by failing tests.
	nodeLog logBuffer
)

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(format, args...))
	if len(b.lines) > 200 {
		b.lines = b.lines[len(b.lines)-200:]
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out string
	for _, l := range b.lines {
		out += l + "\n"
	}
	return out
}

type testMain struct{ m *testing.M }

func (t testMain) Run() int {
	flag.Parse() // for testing.Verbose
	// Generous: Start may run npm ci first.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	started := time.Now()
	node, startErr = litesvm.Start(ctx, nodeLog.logf)
	cancel()
	if startErr != nil {
		fmt.Fprintf(os.Stderr, "litesvm facade did not start: %v\n", startErr)
	} else if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "litesvm facade started in %v at %s\n", time.Since(started).Round(time.Millisecond), node.RPC)
	}
	code := t.m.Run()
	if node != nil {
		if err := node.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "close litesvm facade: %v\n", err)
			code = 1
		}
	}
	return code
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(testMain{m}) }
