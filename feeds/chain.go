package feeds

// Publication is an event that goes to one channel as it is: chain plugins
// build the payload (Block, Reorg, WalletEvent, TxStatus, a decoded log) and
// the daemon publishes it.
type Publication struct {
	// Kind names the event for logs, spans and metrics ("block", "wallet").
	Kind string
	// Channel is the channel's name, e.g. "blocks:devnet".
	Channel string
	// Data is the update's payload; it must marshal to JSON.
	Data any
	// Snapshot, when not nil, is what a new subscriber gets instead of the
	// newest update (recent activity and balances of a wallet, say).
	Snapshot any
}

// EventKind returns the publication's Kind, or "publication".
func (p Publication) EventKind() string {
	if p.Kind != "" {
		return p.Kind
	}
	return "publication"
}

// Block is a canonical block on blocks:<chain>.
type Block struct {
	Type       string `json:"type"` // "block"
	Chain      string `json:"chain"`
	Number     uint64 `json:"number"`
	Hash       string `json:"hash"`
	ParentHash string `json:"parentHash"`
	Timestamp  int64  `json:"timestamp"` // Unix milliseconds
	TxCount    int    `json:"txCount"`

	// Solana: the slot of the parent block (slots in between were
	// skipped, not missed), the block height, the commitment the block was
	// read at and the newest root (finalized slot) when it was published.
	ParentSlot *uint64 `json:"parentSlot,omitempty"`
	Height     *uint64 `json:"blockHeight,omitempty"`
	Commitment string  `json:"commitment,omitempty"`
	Root       uint64  `json:"root,omitempty"`
}

// Reorg on blocks:<chain> says the blocks from number From on were replaced:
// OldHashes left the canonical chain, NewHashes replaced them (both in
// ascending block order). The new blocks follow as Block updates.
type Reorg struct {
	Type      string   `json:"type"` // "reorg"
	Chain     string   `json:"chain"`
	Depth     int      `json:"depth"`
	From      uint64   `json:"from"`
	OldHashes []string `json:"oldHashes"`
	NewHashes []string `json:"newHashes"`
}

// Gap on blocks:<chain> says blocks From through To were skipped: the
// daemon fell further behind than its max_backfill and jumped to the head.
type Gap struct {
	Type   string `json:"type"` // "gap"
	Chain  string `json:"chain"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Reason string `json:"reason"`
}

// The statuses of wallet events and transactions.
const (
	StatusPending   = "pending"
	StatusIncluded  = "included"
	StatusConfirmed = "confirmed"
	StatusRemoved   = "removed"
	StatusFailed    = "failed"
	StatusReplaced  = "replaced"
	StatusDropped   = "dropped"
	StatusReorged   = "reorged"
)

// The types of wallet events.
const (
	WalletBalance       = "balance"
	WalletTransaction   = "transaction"
	WalletTokenTransfer = "token_transfer"
	WalletApproval      = "approval"
	WalletNFT           = "nft"
)

// WalletEvent is one update on wallet:<address>. Fields that do not apply to
// its Type are left out of the JSON.
type WalletEvent struct {
	Type          string `json:"type"`
	Address       string `json:"address"`
	Chain         string `json:"chain"`
	ChainID       uint64 `json:"chainId,omitempty"`
	TS            int64  `json:"ts"`
	Status        string `json:"status"`
	Confirmations uint64 `json:"confirmations"`
	Block         uint64 `json:"block,omitempty"`
	BlockHash     string `json:"blockHash,omitempty"`

	// balance
	Asset    string `json:"asset,omitempty"`
	Balance  string `json:"balance,omitempty"`
	Delta    string `json:"delta,omitempty"`
	Decimals *int   `json:"decimals,omitempty"`

	// transaction, token_transfer, approval, nft
	TxHash    string  `json:"txHash,omitempty"`
	TxIndex   *uint   `json:"txIndex,omitempty"`
	LogIndex  *uint   `json:"logIndex,omitempty"`
	From      string  `json:"from,omitempty"`
	To        string  `json:"to,omitempty"`
	Token     string  `json:"token,omitempty"`
	Standard  string  `json:"standard,omitempty"` // erc20, erc721, erc1155
	Amount    string  `json:"amount,omitempty"`
	TokenID   string  `json:"tokenId,omitempty"`
	Owner     string  `json:"owner,omitempty"`
	Spender   string  `json:"spender,omitempty"`
	Operator  string  `json:"operator,omitempty"`
	Value     string  `json:"value,omitempty"`
	Nonce     *uint64 `json:"nonce,omitempty"`
	Direction string  `json:"direction,omitempty"` // in, out, self
	// ReplacedBy is the hash of the transaction that took this one's nonce.
	ReplacedBy string `json:"replacedBy,omitempty"`
	Error      string `json:"error,omitempty"`

	// Solana: the commitment the event was read at, the fee paid (lamports,
	// decimal string) and, for token balances and transfers, the token
	// account.
	Commitment   string `json:"commitment,omitempty"`
	Fee          string `json:"fee,omitempty"`
	TokenAccount string `json:"tokenAccount,omitempty"`
}

// TxStatus is one update on tx:<chain>:<hash>.
type TxStatus struct {
	Chain         string  `json:"chain"`
	Hash          string  `json:"hash"`
	Status        string  `json:"status"`
	Block         *uint64 `json:"block"`
	BlockHash     string  `json:"blockHash,omitempty"`
	Index         *uint   `json:"index,omitempty"`
	Confirmations uint64  `json:"confirmations"`
	ReplacedBy    string  `json:"replacedBy,omitempty"`
	Error         string  `json:"error,omitempty"`
	From          string  `json:"from,omitempty"`
	Nonce         *uint64 `json:"nonce,omitempty"`
	TS            int64   `json:"ts"`

	// Solana: the commitment the status was read at (processed, confirmed,
	// finalized).
	Commitment string `json:"commitment,omitempty"`
}
