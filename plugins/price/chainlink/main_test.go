package chainlink_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/internal/devchain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, devchain.LeakOptions()...) }
