package solanatest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// JSON-RPC error codes the fake answers.
const (
	codeParseError          = -32700
	codeInvalidRequest      = -32600
	codeMethodNotFound      = -32601
	codeInvalidParams       = -32602
	codeSimulationFailed    = -32002
	codeBlockNotAvailable   = -32004
	codeNodeUnhealthy       = -32005
	codeSlotSkipped         = -32007
	codeMinContextSlot      = -32016
	codeRateLimited         = 429
	maxSignatureStatuses    = 256
	maxMultipleAccounts     = 100
	maxSignaturesLimit      = 1000
	maxBlocksRange          = 500000
	blockhashValidBlocks    = 150
	fakeFeatureSet          = 3294202862
	fakeSolanaCoreVersion   = "2.2.0"
	maxHTTPBody             = 1 << 20
	maxWSMessage            = 1 << 20
	defaultWSQueueLength    = 10000
	notificationJSONVersion = "2.0"
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// Error returns the message and code.
func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

// invalidParams returns a -32602 error naming the problem.
func invalidParams(format string, args ...any) *rpcError {
	return &rpcError{Code: codeInvalidParams, Message: "Invalid params: " + fmt.Sprintf(format, args...)}
}

// request is one JSON-RPC request; the id is kept raw so that it is echoed
// byte for byte.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// response is one JSON-RPC response.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// notification is a pubsub notification.
type notification struct {
	JSONRPC string             `json:"jsonrpc"`
	Method  string             `json:"method"`
	Params  notificationParams `json:"params"`
}

// notificationParams carries a notification's result and subscription id.
type notificationParams struct {
	Result       any    `json:"result"`
	Subscription uint64 `json:"subscription"`
}

// idOrNull returns id, or null when absent.
func idOrNull(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

// validID reports whether a raw id is a number, string or null.
func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return true
	}
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// encodeResponse marshals a response to result or err for id.
func encodeResponse(id json.RawMessage, result any, rerr *rpcError) []byte {
	resp := response{JSONRPC: "2.0", ID: idOrNull(id)}
	if rerr != nil {
		resp.Error = rerr
	} else {
		raw, err := json.Marshal(result)
		if err != nil {
			resp.Error = &rpcError{Code: -32603, Message: fmt.Sprintf("Internal error: encode result: %v", err)}
		} else {
			resp.Result = raw
		}
	}
	out, err := json.Marshal(resp)
	if err != nil { // only a malformed raw id can get here; validID excludes it
		return []byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"},"id":null}`)
	}
	return out
}

// decodeRequest parses one request object, checking the shape JSON-RPC 2.0
// requires.
func decodeRequest(raw []byte) (request, *rpcError) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&req); err != nil {
		return req, &rpcError{Code: codeInvalidRequest, Message: "Invalid request"}
	}
	if !validID(req.ID) {
		req.ID = nil
		return req, &rpcError{Code: codeInvalidRequest, Message: "Invalid request: bad id"}
	}
	if req.JSONRPC != "2.0" {
		return req, &rpcError{Code: codeInvalidRequest, Message: "Invalid request: jsonrpc must be \"2.0\""}
	}
	if req.Method == "" {
		return req, &rpcError{Code: codeInvalidRequest, Message: "Invalid request: missing method"}
	}
	return req, nil
}

// params is a request's positional parameters.
type params []json.RawMessage

// parseParams splits raw params, which must be an array or absent.
func parseParams(raw json.RawMessage) (params, *rpcError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p params
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, invalidParams("params must be an array: %v", err)
	}
	return p, nil
}

// present reports whether parameter i was given and is not null.
func (p params) present(i int) bool { return i < len(p) && string(p[i]) != "null" }

// into decodes required parameter i into v.
func (p params) into(i int, name string, v any) *rpcError {
	if !p.present(i) {
		return invalidParams("missing parameter %d (%s)", i, name)
	}
	if err := json.Unmarshal(p[i], v); err != nil {
		return invalidParams("parameter %d (%s): %v", i, name, err)
	}
	return nil
}

// pubkey decodes required parameter i as a base58 public key.
func (p params) pubkey(i int, name string) (solana.PublicKey, *rpcError) {
	var s string
	if err := p.into(i, name, &s); err != nil {
		return solana.PublicKey{}, err
	}
	return parsePubkey(s, name)
}

// parsePubkey parses a base58 public key.
func parsePubkey(s, name string) (solana.PublicKey, *rpcError) {
	pk, err := solana.PublicKeyFromBase58(s)
	if err != nil {
		return solana.PublicKey{}, invalidParams("%s: invalid pubkey %q", name, s)
	}
	return pk, nil
}

// parseSignature parses a base58 signature.
func parseSignature(s, name string) (solana.Signature, *rpcError) {
	sig, err := solana.SignatureFromBase58(s)
	if err != nil {
		return solana.Signature{}, invalidParams("%s: invalid signature %q", name, s)
	}
	return sig, nil
}

// config is the union of the configuration objects the methods take.
type config struct {
	Commitment                     string     `json:"commitment"`
	Encoding                       string     `json:"encoding"`
	TransactionDetails             string     `json:"transactionDetails"`
	Rewards                        *bool      `json:"rewards"`
	MaxSupportedTransactionVersion *uint64    `json:"maxSupportedTransactionVersion"`
	SearchTransactionHistory       bool       `json:"searchTransactionHistory"`
	Limit                          *uint64    `json:"limit"`
	Before                         string     `json:"before"`
	Until                          string     `json:"until"`
	MinContextSlot                 *uint64    `json:"minContextSlot"`
	EnableReceivedNotification     bool       `json:"enableReceivedNotification"`
	DataSlice                      *dataSlice `json:"dataSlice"`
}

// config decodes optional configuration parameter i.
func (p params) config(i int) (config, *rpcError) {
	var c config
	if !p.present(i) {
		return c, nil
	}
	if err := json.Unmarshal(p[i], &c); err != nil {
		return c, invalidParams("configuration parameter %d: %v", i, err)
	}
	return c, nil
}

// parseCommitment maps a commitment name to a level; empty means finalized.
func parseCommitment(c string) (level, *rpcError) {
	switch c {
	case "", "finalized", "root", "max":
		return levelFinalized, nil
	case "confirmed", "single", "singleGossip":
		return levelConfirmed, nil
	case "processed", "recent":
		return levelProcessed, nil
	default:
		return 0, invalidParams("unknown commitment %q", c)
	}
}

// commitmentAtLeastConfirmed parses a commitment that must not be
// processed (the block and history methods).
func commitmentAtLeastConfirmed(c string) (level, *rpcError) {
	lv, err := parseCommitment(c)
	if err != nil {
		return 0, err
	}
	if lv == levelProcessed {
		return 0, &rpcError{Code: codeInvalidParams, Message: "Method does not support commitment below `confirmed`"}
	}
	return lv, nil
}
