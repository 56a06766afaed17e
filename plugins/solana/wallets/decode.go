package wallets

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// accountValue is the part of an account (getAccountInfo value,
// accountNotification value, getTokenAccountsByOwner item) the wallet
// reads.
type accountValue struct {
	Lamports uint64          `json:"lamports"`
	Owner    string          `json:"owner"`
	Data     json.RawMessage `json:"data"`
}

// valueOf turns an account read with solana-go's rpc client into the
// accountValue that notifications carry (jsonParsed data as it came, binary
// data as ["…", "base64"]).
func valueOf(a *rpc.Account) *accountValue {
	v := &accountValue{Lamports: a.Lamports, Owner: a.Owner.String()}
	if a.Data == nil {
		return v
	}
	if v.Data = a.Data.GetRawJSON(); len(v.Data) == 0 {
		v.Data, _ = json.Marshal([]string{base64.StdEncoding.EncodeToString(a.Data.GetBinary()), "base64"})
	}
	return v
}

// accountNote is an accountNotification's result.
type accountNote struct {
	Context struct {
		Slot uint64 `json:"slot"`
	} `json:"context"`
	Value *accountValue `json:"value"`
}

// tokenState is what a token account holds.
type tokenState struct {
	Mint     string
	Owner    string
	Amount   *big.Int
	Decimals int // -1 when the encoding does not say (base64)
}

// tokenAccount reads an SPL token account (Token or Token-2022) from its
// jsonParsed or base64 data; an error when it is not one.
func tokenAccount(v *accountValue) (tokenState, error) {
	if v == nil {
		return tokenState{}, errors.New("no account")
	}
	if v.Owner != solana.TokenProgramID.String() && v.Owner != solana.Token2022ProgramID.String() {
		return tokenState{}, fmt.Errorf("owned by %s, not a token program", v.Owner)
	}
	var parsed struct {
		Parsed struct {
			Type string `json:"type"`
			Info struct {
				Mint        string `json:"mint"`
				Owner       string `json:"owner"`
				TokenAmount struct {
					Amount   string `json:"amount"`
					Decimals int    `json:"decimals"`
				} `json:"tokenAmount"`
			} `json:"info"`
		} `json:"parsed"`
	}
	if len(v.Data) > 0 && v.Data[0] == '{' {
		if err := json.Unmarshal(v.Data, &parsed); err != nil {
			return tokenState{}, fmt.Errorf("parsed token account: %w", err)
		}
		if parsed.Parsed.Type != "account" {
			return tokenState{}, fmt.Errorf("parsed type %q, not a token account", parsed.Parsed.Type)
		}
		i := parsed.Parsed.Info
		amt, ok := new(big.Int).SetString(i.TokenAmount.Amount, 10)
		if !ok || amt.Sign() < 0 {
			return tokenState{}, fmt.Errorf("token amount %q is not a whole number", i.TokenAmount.Amount)
		}
		if i.TokenAmount.Decimals < 0 || i.TokenAmount.Decimals > 255 {
			return tokenState{}, fmt.Errorf("decimals %d out of range", i.TokenAmount.Decimals)
		}
		return tokenState{Mint: i.Mint, Owner: i.Owner, Amount: amt, Decimals: i.TokenAmount.Decimals}, nil
	}
	var enc []string
	if err := json.Unmarshal(v.Data, &enc); err != nil || len(enc) != 2 || enc[1] != "base64" {
		return tokenState{}, fmt.Errorf("account data is neither jsonParsed nor base64")
	}
	raw, err := base64.StdEncoding.DecodeString(enc[0])
	if err != nil {
		return tokenState{}, fmt.Errorf("account data: %w", err)
	}
	if len(raw) < 72 {
		return tokenState{}, fmt.Errorf("account data of %d bytes is not a token account", len(raw))
	}
	return tokenState{
		Mint:     solana.PublicKeyFromBytes(raw[0:32]).String(),
		Owner:    solana.PublicKeyFromBytes(raw[32:64]).String(),
		Amount:   new(big.Int).SetUint64(binary.LittleEndian.Uint64(raw[64:72])),
		Decimals: -1,
	}, nil
}

// txResult is the part of a getTransaction (jsonParsed) answer the wallet
// reads.
type txResult struct {
	Slot      uint64 `json:"slot"`
	BlockTime *int64 `json:"blockTime"`
	Meta      *struct {
		Err               json.RawMessage `json:"err"`
		Fee               uint64          `json:"fee"`
		PreBalances       []uint64        `json:"preBalances"`
		PostBalances      []uint64        `json:"postBalances"`
		PreTokenBalances  []tokenBalance  `json:"preTokenBalances"`
		PostTokenBalances []tokenBalance  `json:"postTokenBalances"`
		LoadedAddresses   *struct {
			Writable []string `json:"writable"`
			Readonly []string `json:"readonly"`
		} `json:"loadedAddresses"`
	} `json:"meta"`
	Transaction struct {
		Message struct {
			AccountKeys  []accountKey  `json:"accountKeys"`
			Instructions []instruction `json:"instructions"`
		} `json:"message"`
	} `json:"transaction"`
}

// instruction is a top-level instruction of a jsonParsed transaction; only
// the system program's transfers are read.
type instruction struct {
	Program string `json:"program"`
	Parsed  struct {
		Type string `json:"type"`
		Info struct {
			Source      string `json:"source"`
			Destination string `json:"destination"`
			Lamports    uint64 `json:"lamports"`
		} `json:"info"`
	} `json:"parsed"`
}

func (in *instruction) UnmarshalJSON(b []byte) error {
	type plain instruction
	var p plain
	if json.Unmarshal(b, &p) != nil {
		return nil // an instruction of another shape: not read
	}
	*in = instruction(p)
	return nil
}

// selfTransfers sums the system transfers from addr to itself.
func (t *txResult) selfTransfers(addr string) (uint64, bool) {
	var sum uint64
	found := false
	for _, in := range t.Transaction.Message.Instructions {
		i := in.Parsed.Info
		if in.Program == "system" && (in.Parsed.Type == "transfer" || in.Parsed.Type == "transferWithSeed") && i.Source == addr && i.Destination == addr {
			sum += i.Lamports
			found = true
		}
	}
	return sum, found
}

// accountKey is an account key of a transaction's message: a string (json
// encoding) or {pubkey, signer, writable} (jsonParsed).
type accountKey struct {
	Pubkey string `json:"pubkey"`
	Signer bool   `json:"signer"`
}

func (k *accountKey) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &k.Pubkey)
	}
	type plain accountKey
	return json.Unmarshal(b, (*plain)(k))
}

// tokenBalance is one entry of pre/postTokenBalances.
type tokenBalance struct {
	AccountIndex  int    `json:"accountIndex"`
	Mint          string `json:"mint"`
	Owner         string `json:"owner"`
	ProgramID     string `json:"programId"`
	UITokenAmount struct {
		Amount   string `json:"amount"`
		Decimals int    `json:"decimals"`
	} `json:"uiTokenAmount"`
}

// keys returns every account of the transaction in index order: the
// message's, then the loaded writable and read-only ones (v0).
func (t *txResult) keys() []string {
	out := make([]string, 0, len(t.Transaction.Message.AccountKeys))
	for _, k := range t.Transaction.Message.AccountKeys {
		out = append(out, k.Pubkey)
	}
	if t.Meta != nil && t.Meta.LoadedAddresses != nil {
		out = append(out, t.Meta.LoadedAddresses.Writable...)
		out = append(out, t.Meta.LoadedAddresses.Readonly...)
	}
	return out
}

// amount parses a decimal token amount.
func amount(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("amount %q is not a whole number", s)
	}
	return v, nil
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
