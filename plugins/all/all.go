// Package all imports every built-in plugin type so that it registers with
// plugins.Default. Binaries import it for its side effect.
package all

import (
	_ "github.com/feedd/feedd/chains/evm"              // evm (chain)
	_ "github.com/feedd/feedd/chains/solana"           // solana (chain)
	_ "github.com/feedd/feedd/plugins/evm/blocks"      // evm.blocks
	_ "github.com/feedd/feedd/plugins/evm/logs"        // evm.logs
	_ "github.com/feedd/feedd/plugins/evm/tx"          // evm.tx
	_ "github.com/feedd/feedd/plugins/evm/wallets"     // evm.wallets
	_ "github.com/feedd/feedd/plugins/price/binance"   // price.binance
	_ "github.com/feedd/feedd/plugins/price/chainlink" // price.chainlink
	_ "github.com/feedd/feedd/plugins/price/coinbase"  // price.coinbase
	_ "github.com/feedd/feedd/plugins/price/httpjson"  // price.http
	_ "github.com/feedd/feedd/plugins/price/kraken"    // price.kraken
	_ "github.com/feedd/feedd/plugins/price/uniswap"   // price.uniswapv2, price.uniswapv3
	_ "github.com/feedd/feedd/plugins/replay"          // price.replay
	_ "github.com/feedd/feedd/plugins/solana/slots"    // solana.slots
	_ "github.com/feedd/feedd/plugins/solana/tx"       // solana.tx
	_ "github.com/feedd/feedd/plugins/solana/wallets"  // solana.wallets
)
