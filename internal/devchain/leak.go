package devchain

import "go.uber.org/goleak"

// LeakOptions returns the goleak options a test package that starts dev
// chains needs, for goleak.VerifyTestMain, VerifyNone or Find: they ignore
// only goroutines that outlive a closed Chain by design.
//
//   - go-ethereum's process-wide transaction sender cacher
//     (core.SenderCacher): GOMAXPROCS goroutines started once, on first use,
//     and never stopped. They belong to no Chain.
//   - goleveldb's mpoolDrain of the node's in-memory p2p node database,
//     which exits up to one second after Close, longer than goleak retries.
//
// Usage:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(m, devchain.LeakOptions()...) }
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	}
}
