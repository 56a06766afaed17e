package solanatest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// method serves one ordinary JSON-RPC method; the Server's mutex is held.
type method func(s *Server, p params) (any, *rpcError)

// lookupMethod returns the handler of an ordinary (non-subscription)
// method, nil when there is none.
func lookupMethod(name string) method {
	switch name {
	case "getHealth":
		return func(*Server, params) (any, *rpcError) { return "ok", nil }
	case "getVersion":
		return (*Server).getVersion
	case "getGenesisHash":
		return func(s *Server, _ params) (any, *rpcError) { return s.l.genesisHash.String(), nil }
	case "getFirstAvailableBlock":
		return func(*Server, params) (any, *rpcError) { return 0, nil }
	case "minimumLedgerSlot":
		return func(*Server, params) (any, *rpcError) { return 0, nil }
	case "getSlot":
		return (*Server).getSlot
	case "getBlockHeight":
		return (*Server).getBlockHeight
	case "getLatestBlockhash":
		return (*Server).getLatestBlockhash
	case "getBlocks":
		return (*Server).getBlocks
	case "getBlock":
		return (*Server).getBlock
	case "getBlockTime":
		return (*Server).getBlockTime
	case "getBalance":
		return (*Server).getBalance
	case "getAccountInfo":
		return (*Server).getAccountInfo
	case "getMultipleAccounts":
		return (*Server).getMultipleAccounts
	case "getTokenAccountsByOwner":
		return (*Server).getTokenAccountsByOwner
	case "getTokenAccountBalance":
		return (*Server).getTokenAccountBalance
	case "getTransaction":
		return (*Server).getTransaction
	case "getSignatureStatuses":
		return (*Server).getSignatureStatuses
	case "getSignaturesForAddress":
		return (*Server).getSignaturesForAddress
	case "sendTransaction":
		return (*Server).sendTransaction
	case "requestAirdrop":
		return (*Server).requestAirdrop
	default:
		return nil
	}
}

// withContext wraps a value in the {context, value} envelope.
func withContext(slot uint64, value any) map[string]any {
	return map[string]any{
		"context": map[string]any{"slot": slot, "apiVersion": fakeSolanaCoreVersion},
		"value":   value,
	}
}

// contextSlot parses a commitment and returns the slot it answers as of,
// checking minContextSlot.
func (s *Server) contextSlot(c config) (uint64, *rpcError) {
	lv, err := parseCommitment(c.Commitment)
	if err != nil {
		return 0, err
	}
	slot := s.l.limit(lv)
	if c.MinContextSlot != nil && *c.MinContextSlot > slot {
		return 0, &rpcError{
			Code:    codeMinContextSlot,
			Message: "Minimum context slot has not been reached",
			Data:    map[string]any{"contextSlot": slot},
		}
	}
	return slot, nil
}

func (s *Server) getVersion(params) (any, *rpcError) {
	return map[string]any{"solana-core": fakeSolanaCoreVersion, "feature-set": fakeFeatureSet}, nil
}

func (s *Server) getSlot(p params) (any, *rpcError) {
	c, err := p.config(0)
	if err != nil {
		return nil, err
	}
	return s.contextSlot(c)
}

func (s *Server) getBlockHeight(p params) (any, *rpcError) {
	c, err := p.config(0)
	if err != nil {
		return nil, err
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	return s.l.newestBlock(slot).height, nil
}

func (s *Server) getLatestBlockhash(p params) (any, *rpcError) {
	c, err := p.config(0)
	if err != nil {
		return nil, err
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	b := s.l.newestBlock(slot)
	return withContext(slot, map[string]any{
		"blockhash":            b.hash.String(),
		"lastValidBlockHeight": b.height + blockhashValidBlocks,
	}), nil
}

func (s *Server) getBlocks(p params) (any, *rpcError) {
	var start uint64
	if err := p.into(0, "start slot", &start); err != nil {
		return nil, err
	}
	// The end slot is optional and the configuration may take its place.
	var end *uint64
	cfgAt := 1
	switch {
	case p.present(1) && p[1][0] != '{':
		var e uint64
		if err := p.into(1, "end slot", &e); err != nil {
			return nil, err
		}
		end, cfgAt = &e, 2
	case len(p) > 2: // [start, null, config]
		cfgAt = 2
	}
	c, err := p.config(cfgAt)
	if err != nil {
		return nil, err
	}
	lv, err := commitmentAtLeastConfirmed(c.Commitment)
	if err != nil {
		return nil, err
	}
	last := s.l.limit(lv)
	if end != nil {
		if *end < start {
			return []uint64{}, nil
		}
		if *end-start > maxBlocksRange {
			return nil, invalidParams("slot range too large; max %d", maxBlocksRange)
		}
		last = min(last, *end)
	} else if last > start && last-start > maxBlocksRange {
		return nil, invalidParams("slot range too large; max %d", maxBlocksRange)
	}
	out := []uint64{}
	for slot := start; slot <= last; slot++ {
		if s.l.block(slot) != nil {
			out = append(out, slot)
		}
	}
	return out, nil
}

// availableBlock returns the block of slot at level lv or the error a
// node answers for it.
func (s *Server) availableBlock(slot uint64, lv level) (*block, *rpcError) {
	if slot > s.l.limit(lv) {
		return nil, &rpcError{Code: codeBlockNotAvailable, Message: fmt.Sprintf("Block not available for slot %d", slot)}
	}
	b := s.l.block(slot)
	if b == nil {
		return nil, &rpcError{
			Code:    codeSlotSkipped,
			Message: fmt.Sprintf("Slot %d was skipped, or missing due to ledger jump to recent snapshot", slot),
		}
	}
	return b, nil
}

func (s *Server) getBlock(p params) (any, *rpcError) {
	var slot uint64
	if err := p.into(0, "slot", &slot); err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	lv, err := commitmentAtLeastConfirmed(c.Commitment)
	if err != nil {
		return nil, err
	}
	enc, encErr := txEncoding(c.Encoding)
	if encErr != nil {
		return nil, invalidParams("%v", encErr)
	}
	details := c.TransactionDetails
	switch details {
	case "":
		details = "full"
	case "full", "signatures", "none":
	default:
		return nil, invalidParams("unsupported transactionDetails %q", details)
	}
	b, err := s.availableBlock(slot, lv)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"blockhash":         b.hash.String(),
		"previousBlockhash": b.prevHash.String(),
		"parentSlot":        b.parent,
		"blockTime":         b.time,
		"blockHeight":       b.height,
	}
	if c.Rewards == nil || *c.Rewards {
		out["rewards"] = []any{}
	}
	switch details {
	case "full":
		txs := make([]any, 0, len(b.txs))
		for _, t := range b.txs {
			txs = append(txs, renderTxWithMeta(t, enc, c.MaxSupportedTransactionVersion != nil))
		}
		out["transactions"] = txs
	case "signatures":
		sigs := make([]string, 0, len(b.txs))
		for _, t := range b.txs {
			sigs = append(sigs, t.sig.String())
		}
		out["signatures"] = sigs
	}
	return out, nil
}

func (s *Server) getBlockTime(p params) (any, *rpcError) {
	var slot uint64
	if err := p.into(0, "slot", &slot); err != nil {
		return nil, err
	}
	b, err := s.availableBlock(slot, levelConfirmed)
	if err != nil {
		return nil, err
	}
	return b.time, nil
}

func (s *Server) getBalance(p params) (any, *rpcError) {
	pk, err := p.pubkey(0, "pubkey")
	if err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	st, _ := s.l.stateAt(pk, slot)
	return withContext(slot, st.lamports), nil
}

// accountValue returns the rendered account or nil when it does not exist
// as of slot.
func (s *Server) accountValue(pk solana.PublicKey, slot uint64, enc string, slice *dataSlice) any {
	st, ok := s.l.stateAt(pk, slot)
	if !ok {
		return nil
	}
	return s.l.renderAccount(st, enc, slice)
}

func (s *Server) getAccountInfo(p params) (any, *rpcError) {
	pk, err := p.pubkey(0, "pubkey")
	if err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	enc, encErr := accountEncoding(c.Encoding, encBase58)
	if encErr != nil {
		return nil, invalidParams("%v", encErr)
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	return withContext(slot, s.accountValue(pk, slot, enc, c.DataSlice)), nil
}

func (s *Server) getMultipleAccounts(p params) (any, *rpcError) {
	var keys []string
	if err := p.into(0, "pubkeys", &keys); err != nil {
		return nil, err
	}
	if len(keys) > maxMultipleAccounts {
		return nil, invalidParams("too many inputs provided; max %d", maxMultipleAccounts)
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	enc, encErr := accountEncoding(c.Encoding, encBase64)
	if encErr != nil {
		return nil, invalidParams("%v", encErr)
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		pk, err := parsePubkey(k, "pubkeys")
		if err != nil {
			return nil, err
		}
		out = append(out, s.accountValue(pk, slot, enc, c.DataSlice))
	}
	return withContext(slot, out), nil
}

func (s *Server) getTokenAccountsByOwner(p params) (any, *rpcError) {
	owner, err := p.pubkey(0, "owner")
	if err != nil {
		return nil, err
	}
	var filter struct {
		Mint      string `json:"mint"`
		ProgramID string `json:"programId"`
	}
	if err := p.into(1, "filter", &filter); err != nil {
		return nil, err
	}
	var mint, program solana.PublicKey
	switch {
	case filter.Mint != "" && filter.ProgramID != "":
		return nil, invalidParams("filter: set only one of mint and programId")
	case filter.Mint != "":
		if mint, err = parsePubkey(filter.Mint, "filter mint"); err != nil {
			return nil, err
		}
	case filter.ProgramID != "":
		if program, err = parsePubkey(filter.ProgramID, "filter programId"); err != nil {
			return nil, err
		}
		if !isTokenProgram(program) {
			return nil, invalidParams("unrecognized Token program id")
		}
	default:
		return nil, invalidParams("filter: missing mint or programId")
	}
	c, err := p.config(2)
	if err != nil {
		return nil, err
	}
	enc, encErr := accountEncoding(c.Encoding, encBase64)
	if encErr != nil {
		return nil, invalidParams("%v", encErr)
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	if !mint.IsZero() {
		if st, ok := s.l.stateAt(mint, slot); !ok || st.kind != kindMint {
			return nil, invalidParams("could not find mint")
		}
	}
	out := []any{}
	for _, pk := range s.l.order {
		st, ok := s.l.stateAt(pk, slot)
		if !ok || st.kind != kindToken || st.token.owner != owner {
			continue
		}
		if (!mint.IsZero() && st.token.mint != mint) || (!program.IsZero() && st.owner != program) {
			continue
		}
		out = append(out, map[string]any{"pubkey": pk.String(), "account": s.l.renderAccount(st, enc, c.DataSlice)})
	}
	return withContext(slot, out), nil
}

func (s *Server) getTokenAccountBalance(p params) (any, *rpcError) {
	pk, err := p.pubkey(0, "pubkey")
	if err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	slot, err := s.contextSlot(c)
	if err != nil {
		return nil, err
	}
	st, ok := s.l.stateAt(pk, slot)
	if !ok || st.kind != kindToken {
		return nil, invalidParams("Invalid param: not a Token account")
	}
	return withContext(slot, uiAmount(st.token.amount, s.l.decimals(st.token.mint))), nil
}

// landedAt returns the transaction if it landed in a slot that reached lv.
func (s *Server) landedAt(sig solana.Signature, lv level) *txRecord {
	t := s.l.txs[sig]
	if t == nil || !t.landed || t.slot > s.l.limit(lv) {
		return nil
	}
	return t
}

func (s *Server) getTransaction(p params) (any, *rpcError) {
	var str string
	if err := p.into(0, "signature", &str); err != nil {
		return nil, err
	}
	sig, err := parseSignature(str, "signature")
	if err != nil {
		return nil, err
	}
	var c config
	if len(p) > 1 && len(p[1]) > 0 && p[1][0] == '"' { // the legacy encoding-only form
		if err := json.Unmarshal(p[1], &c.Encoding); err != nil {
			return nil, invalidParams("encoding: %v", err)
		}
	} else if c, err = p.config(1); err != nil {
		return nil, err
	}
	lv, err := commitmentAtLeastConfirmed(c.Commitment)
	if err != nil {
		return nil, err
	}
	enc, encErr := txEncoding(c.Encoding)
	if encErr != nil {
		return nil, invalidParams("%v", encErr)
	}
	t := s.landedAt(sig, lv)
	if t == nil {
		return nil, nil
	}
	out := renderTxWithMeta(t, enc, c.MaxSupportedTransactionVersion != nil)
	out["slot"], out["blockTime"] = t.slot, t.blockTime
	return out, nil
}

func (s *Server) getSignatureStatuses(p params) (any, *rpcError) {
	var strs []string
	if err := p.into(0, "signatures", &strs); err != nil {
		return nil, err
	}
	if len(strs) > maxSignatureStatuses {
		return nil, invalidParams("too many inputs provided; max %d", maxSignatureStatuses)
	}
	if _, err := p.config(1); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(strs))
	for _, str := range strs {
		sig, err := parseSignature(str, "signatures")
		if err != nil {
			return nil, err
		}
		t := s.landedAt(sig, levelProcessed)
		if t == nil {
			out = append(out, nil)
			continue
		}
		lv := s.l.levelOf(t.slot)
		var confirmations any
		if lv != levelFinalized {
			confirmations = s.l.newest() - t.slot
		}
		status := map[string]any{"Ok": nil}
		if t.err != nil {
			status = map[string]any{"Err": t.err}
		}
		out = append(out, map[string]any{
			"slot":               t.slot,
			"confirmations":      confirmations,
			"err":                t.err,
			"status":             status,
			"confirmationStatus": lv.String(),
		})
	}
	return withContext(s.l.newest(), out), nil
}

func (s *Server) getSignaturesForAddress(p params) (any, *rpcError) {
	pk, err := p.pubkey(0, "address")
	if err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	lv, err := commitmentAtLeastConfirmed(c.Commitment)
	if err != nil {
		return nil, err
	}
	limit := uint64(maxSignaturesLimit)
	if c.Limit != nil {
		if *c.Limit == 0 || *c.Limit > maxSignaturesLimit {
			return nil, invalidParams("invalid limit %d; max %d", *c.Limit, maxSignaturesLimit)
		}
		limit = *c.Limit
	}
	var before, until solana.Signature
	if c.Before != "" {
		if before, err = parseSignature(c.Before, "before"); err != nil {
			return nil, err
		}
	}
	if c.Until != "" {
		if until, err = parseSignature(c.Until, "until"); err != nil {
			return nil, err
		}
	}
	txs := s.l.byAddr[pk]
	out := []any{}
	started := before.IsZero()
	top := s.l.limit(lv)
	for i := len(txs) - 1; i >= 0 && uint64(len(out)) < limit; i-- {
		t := txs[i]
		if !until.IsZero() && t.sig == until {
			break
		}
		if !started {
			started = t.sig == before
			continue
		}
		if t.slot > top {
			continue
		}
		out = append(out, map[string]any{
			"signature":          t.sig.String(),
			"slot":               t.slot,
			"err":                t.err,
			"memo":               nil,
			"blockTime":          t.blockTime,
			"confirmationStatus": s.l.levelOf(t.slot).String(),
		})
	}
	return out, nil
}

func (s *Server) sendTransaction(p params) (any, *rpcError) {
	var str string
	if err := p.into(0, "transaction", &str); err != nil {
		return nil, err
	}
	c, err := p.config(1)
	if err != nil {
		return nil, err
	}
	switch c.Encoding {
	case "", encBase58:
		var b solana.Base58
		if e := b.UnmarshalJSON([]byte(`"` + str + `"`)); e != nil || len(b) == 0 {
			return nil, invalidParams("failed to decode base58 transaction")
		}
	case encBase64:
		if _, e := base64.StdEncoding.DecodeString(str); e != nil {
			return nil, invalidParams("failed to decode base64 transaction: %v", e)
		}
	default:
		return nil, invalidParams("unsupported transaction encoding %q", c.Encoding)
	}
	return nil, &rpcError{
		Code:    codeSimulationFailed,
		Message: "Transaction simulation failed: solanatest does not execute transactions",
		Data: map[string]any{
			"err": "ProgramAccountNotFound", "logs": []string{}, "accounts": nil, "unitsConsumed": 0,
		},
	}
}

func (s *Server) requestAirdrop(p params) (any, *rpcError) {
	pk, err := p.pubkey(0, "pubkey")
	if err != nil {
		return nil, err
	}
	var lamports uint64
	if err := p.into(1, "lamports", &lamports); err != nil {
		return nil, err
	}
	if _, err := p.config(2); err != nil {
		return nil, err
	}
	return s.queued(s.l.transfer(s.l.faucet, pk, lamports)).String(), nil
}
