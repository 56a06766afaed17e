package solanatest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind. No
// goroutine is ignored: Server.Close waits for all of its own, solana-go's
// rpc client holds only idle keep-alive connections (closed by the
// server's Close), and its ws client stops its ping and read goroutines on
// Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
