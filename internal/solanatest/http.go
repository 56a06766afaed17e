package solanatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// isWebSocketUpgrade reports whether r is a WebSocket handshake.
func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveHTTP answers one JSON-RPC POST (a single request or a batch).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/health" {
		_, _ = io.WriteString(w, "ok")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "solanatest: JSON-RPC needs POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHTTPBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "solanatest: request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		s.log.Debug("solanatest: read request body", "err", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.takeRateLimit() {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(encodeResponse(requestID(body), nil, &rpcError{
			Code:    codeRateLimited,
			Message: "Too many requests for a specific RPC call",
		}))
		return
	}
	_, _ = w.Write(s.serveBody(body))
}

// takeRateLimit consumes one rate-limited request, if any are left.
func (s *Server) takeRateLimit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rateLimit == 0 {
		return false
	}
	s.rateLimit--
	return true
}

// requestID returns the raw id of a single request body, nil when there is
// none.
func requestID(body []byte) json.RawMessage {
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &req) != nil || !validID(req.ID) {
		return nil
	}
	return req.ID
}

// serveBody answers an HTTP JSON-RPC body: one request or a batch. It never
// panics on malformed input.
func (s *Server) serveBody(body []byte) []byte {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return encodeResponse(nil, nil, &rpcError{Code: codeParseError, Message: "Parse error"})
	}
	if len(body) > 0 && body[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil || len(batch) == 0 {
			return encodeResponse(nil, nil, &rpcError{Code: codeInvalidRequest, Message: "Invalid request: empty batch"})
		}
		out := []byte{'['}
		for i, raw := range batch {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, s.serveOne(raw)...)
		}
		return append(out, ']')
	}
	return s.serveOne(body)
}

// serveOne answers one request object.
func (s *Server) serveOne(raw []byte) []byte {
	req, rerr := decodeRequest(raw)
	if rerr != nil {
		return encodeResponse(req.ID, nil, rerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if isPubsubMethod(req.Method) {
		s.calls[req.Method]++
		return encodeResponse(req.ID, nil, &rpcError{Code: codeMethodNotFound, Message: "Method not found"})
	}
	result, rerr := s.call(req.Method, req.Params)
	s.log.Debug("solanatest: rpc", "method", req.Method, "err", rerr)
	return encodeResponse(req.ID, result, rerr)
}
