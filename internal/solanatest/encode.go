package solanatest

import (
	"encoding/base64"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// Encodings the fake serves.
const (
	encBase58     = "base58"
	encBase64     = "base64"
	encJSON       = "json"
	encJSONParsed = "jsonParsed"
)

// txEncoding checks a transaction encoding; empty means json.
func txEncoding(enc string) (string, error) {
	switch enc {
	case "":
		return encJSON, nil
	case encJSON, encJSONParsed, encBase58, encBase64:
		return enc, nil
	default:
		return "", fmt.Errorf("unsupported transaction encoding %q", enc)
	}
}

// accountEncoding checks an account encoding; empty means def.
func accountEncoding(enc, def string) (string, error) {
	switch enc {
	case "":
		return def, nil
	case encJSONParsed, encBase58, encBase64:
		return enc, nil
	default:
		return "", fmt.Errorf("unsupported account encoding %q", enc)
	}
}

// dataSlice is the optional dataSlice configuration.
type dataSlice struct {
	Offset *uint64 `json:"offset"`
	Length *uint64 `json:"length"`
}

// renderAccount returns the RPC account object of st in encoding enc.
func (l *ledger) renderAccount(st acctState, enc string, slice *dataSlice) map[string]any {
	raw := accountData(st)
	var data any
	if enc == encJSONParsed {
		if parsed, ok := parsedAccountData(st, l.decimals); ok {
			data = parsed
		} else {
			enc = encBase64
		}
	}
	if data == nil {
		if slice != nil {
			off, n := uint64(0), uint64(len(raw))
			if slice.Offset != nil {
				off = min(*slice.Offset, uint64(len(raw)))
			}
			if slice.Length != nil {
				n = *slice.Length
			}
			raw = raw[off : off+min(n, uint64(len(raw))-off)]
		}
		if enc == encBase58 {
			data = []string{b58(raw), encBase58}
		} else {
			data = []string{base64.StdEncoding.EncodeToString(raw), encBase64}
		}
	}
	return map[string]any{
		"lamports":   st.lamports,
		"owner":      st.owner.String(),
		"data":       data,
		"executable": false,
		"rentEpoch":  maxRentEpoch,
		"space":      len(accountData(st)),
	}
}

// renderTxWithMeta returns the {transaction, meta, [version]} object of a
// landed transaction, as getTransaction (with slot and blockTime added by
// the caller) and getBlock serve it.
func renderTxWithMeta(t *txRecord, enc string, withVersion bool) map[string]any {
	out := map[string]any{
		"transaction": renderTx(t, enc),
		"meta":        renderMeta(t, enc == encJSONParsed),
	}
	if withVersion {
		out["version"] = "legacy"
	}
	return out
}

// renderTx returns the transaction in encoding enc.
func renderTx(t *txRecord, enc string) any {
	switch enc {
	case encBase64:
		return []string{base64.StdEncoding.EncodeToString(wireTx(t)), encBase64}
	case encBase58:
		return []string{b58(wireTx(t)), encBase58}
	}
	msg := map[string]any{"recentBlockhash": t.blockhash.String()}
	var ixs []any
	if enc == encJSONParsed {
		keys := make([]any, len(t.keys))
		for i, k := range t.keys {
			keys[i] = map[string]any{
				"pubkey": k.pubkey.String(), "signer": k.signer, "writable": k.writable, "source": "transaction",
			}
		}
		msg["accountKeys"] = keys
		for _, ix := range t.ixs {
			ixs = append(ixs, parsedIx(ix))
		}
	} else {
		keys := make([]string, len(t.keys))
		for i, k := range t.keys {
			keys[i] = k.pubkey.String()
		}
		msg["accountKeys"] = keys
		signed, roSigned, roUnsigned := t.header()
		msg["header"] = map[string]any{
			"numRequiredSignatures":       signed,
			"numReadonlySignedAccounts":   roSigned,
			"numReadonlyUnsignedAccounts": roUnsigned,
		}
		for _, ix := range t.ixs {
			ixs = append(ixs, map[string]any{
				"programIdIndex": t.keyIndex(ix.program),
				"accounts":       ixAccountIndexes(t, ix),
				"data":           b58(ix.data),
				"stackHeight":    nil,
			})
		}
	}
	msg["instructions"] = ixs
	sigs := []string{t.sig.String()}
	return map[string]any{"signatures": sigs, "message": msg}
}

// ixAccountIndexes returns the key indexes of an instruction's accounts.
func ixAccountIndexes(t *txRecord, ix instruction) []int {
	idx := make([]int, len(ix.accounts))
	for i, a := range ix.accounts {
		idx[i] = t.keyIndex(a.pubkey)
	}
	return idx
}

// parsedIx returns the jsonParsed form of an instruction.
func parsedIx(ix instruction) map[string]any {
	if ix.parsed != nil {
		return map[string]any{
			"program":     ix.name,
			"programId":   ix.program.String(),
			"parsed":      ix.parsed,
			"stackHeight": nil,
		}
	}
	accounts := make([]string, len(ix.accounts))
	for i, a := range ix.accounts {
		accounts[i] = a.pubkey.String()
	}
	return map[string]any{
		"programId":   ix.program.String(),
		"accounts":    accounts,
		"data":        b58(ix.data),
		"stackHeight": nil,
	}
}

// renderMeta returns the transaction's status metadata.
func renderMeta(t *txRecord, parsed bool) map[string]any {
	status := map[string]any{"Ok": nil}
	if t.err != nil {
		status = map[string]any{"Err": t.err}
	}
	m := map[string]any{
		"err":                  t.err,
		"status":               status,
		"fee":                  t.fee,
		"preBalances":          t.pre,
		"postBalances":         t.post,
		"innerInstructions":    []any{},
		"logMessages":          t.logs,
		"preTokenBalances":     renderTokenBalances(t.preTok),
		"postTokenBalances":    renderTokenBalances(t.postTok),
		"rewards":              []any{},
		"computeUnitsConsumed": t.cu,
	}
	if !parsed {
		m["loadedAddresses"] = map[string]any{"writable": []string{}, "readonly": []string{}}
	}
	return m
}

// renderTokenBalances returns the RPC form of token balances.
func renderTokenBalances(tbs []tokenBalance) []any {
	out := make([]any, 0, len(tbs))
	for _, tb := range tbs {
		out = append(out, map[string]any{
			"accountIndex":  tb.index,
			"mint":          tb.mint.String(),
			"owner":         tb.owner.String(),
			"programId":     tb.program.String(),
			"uiTokenAmount": uiAmount(tb.amount, tb.decimals),
		})
	}
	return out
}

// wireTx returns the legacy wire format of the transaction (its signature
// is random, so it does not verify).
func wireTx(t *txRecord) []byte {
	var b []byte
	b = appendCompactU16(b, 1)
	b = append(b, t.sig[:]...)
	signed, roSigned, roUnsigned := t.header()
	b = append(b, signed, roSigned, roUnsigned)
	b = appendCompactU16(b, len(t.keys))
	for _, k := range t.keys {
		b = append(b, k.pubkey[:]...)
	}
	b = append(b, t.blockhash[:]...)
	b = appendCompactU16(b, len(t.ixs))
	for _, ix := range t.ixs {
		b = append(b, byte(t.keyIndex(ix.program)))
		idx := ixAccountIndexes(t, ix)
		b = appendCompactU16(b, len(idx))
		for _, i := range idx {
			b = append(b, byte(i))
		}
		b = appendCompactU16(b, len(ix.data))
		b = append(b, ix.data...)
	}
	return b
}

// appendCompactU16 appends n in Solana's shortvec encoding.
func appendCompactU16(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// b58 returns the base58 text of b.
func b58(b []byte) string { return solana.Base58(b).String() }
