// Package protocol holds feedd's WebSocket wire protocol, version 1: the
// message types, error and close codes, and the decoding of frames. The
// server (package channels), the Go client and the load tool share it. The
// full contract is PROTOCOL.md, kept in docs/.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Version is the protocol version announced in welcome.
const Version = 1

// Subprotocol is the optional WebSocket subprotocol name.
const Subprotocol = "feedd.v1"

// Message types.
const (
	TypeSubscribe    = "subscribe"
	TypeUnsubscribe  = "unsubscribe"
	TypePing         = "ping"
	TypePong         = "pong"
	TypeAuth         = "auth"
	TypeWelcome      = "welcome"
	TypeSubscribed   = "subscribed"
	TypeUpdate       = "update"
	TypeUnsubscribed = "unsubscribed"
	TypeAuthed       = "authed"
	TypeError        = "error"
)

// Error codes carried by error messages.
const (
	ErrBadRequest           = "bad_request"
	ErrBadChannel           = "bad_channel"
	ErrForbidden            = "forbidden"
	ErrUnauthorized         = "unauthorized"
	ErrTooManySubscriptions = "too_many_subscriptions"
	ErrRateLimited          = "rate_limited"
	ErrUnavailable          = "unavailable"
	ErrInternal             = "internal"
)

// WebSocket close codes.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001 // server shutting down
	CloseTooBig       = 1009 // inbound frame over the limit
	CloseHeartbeat    = 4000 // heartbeat missed
	CloseUnauthorized = 4001 // unauthorized or token expired
	CloseTooSlow      = 4008 // send queue overflowed on an event channel
	CloseRateLimited  = 4029
)

// Position is a place in a channel's stream.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// Request is any message from client to server. ID, when present, is a JSON
// string or number chosen by the client and echoed verbatim in replies.
type Request struct {
	Type     string              `json:"type"`
	ID       json.RawMessage     `json:"id,omitempty"`
	Channels []string            `json:"channels,omitempty"`
	Since    map[string]Position `json:"since,omitempty"`
	Token    string              `json:"token,omitempty"`
}

// RequestError is a request that cannot be served: Code is the error code
// to answer with and ID the correlation id, when one could be read.
type RequestError struct {
	ID   json.RawMessage
	Code string
	Msg  string
}

func (e *RequestError) Error() string { return e.Code + ": " + e.Msg }

// DecodeRequest decodes and checks one client frame. Every failure is a
// *RequestError with code bad_request and a message naming the problem.
func DecodeRequest(frame []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		// Try to rescue the id for the reply.
		var probe struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(frame, &probe)
		return Request{}, &RequestError{ID: validID(probe.ID), Code: ErrBadRequest, Msg: "malformed request: " + jsonProblem(err)}
	}
	if rest := bytes.TrimSpace(frame[dec.InputOffset():]); len(rest) > 0 {
		return Request{}, &RequestError{ID: validID(r.ID), Code: ErrBadRequest, Msg: "one JSON object per frame"}
	}
	if r.ID != nil && validID(r.ID) == nil {
		return Request{}, &RequestError{Code: ErrBadRequest, Msg: "id must be a string or a number"}
	}
	bad := func(format string, args ...any) (Request, error) {
		return Request{}, &RequestError{ID: r.ID, Code: ErrBadRequest, Msg: fmt.Sprintf(format, args...)}
	}
	switch r.Type {
	case TypeSubscribe:
		if len(r.Channels) == 0 {
			return bad("subscribe needs a non-empty channels list")
		}
		for ch := range r.Since {
			found := false
			for _, c := range r.Channels {
				if c == ch {
					found = true
					break
				}
			}
			if !found {
				return bad("since names %q, which is not in channels", ch)
			}
		}
	case TypeUnsubscribe:
		if len(r.Channels) == 0 {
			return bad("unsubscribe needs a non-empty channels list")
		}
		if r.Since != nil {
			return bad("unsubscribe takes no since")
		}
	case TypeAuth:
		if r.Token == "" {
			return bad("auth needs a token")
		}
	case TypePing, TypePong:
	case "":
		return bad("missing type")
	default:
		return bad("unknown type %q", r.Type)
	}
	return r, nil
}

func validID(id json.RawMessage) json.RawMessage {
	id = bytes.TrimSpace(id)
	if len(id) == 0 {
		return nil
	}
	switch id[0] {
	case '"':
		var s string
		// The id is echoed byte for byte, so it must be valid UTF-8 for the
		// reply to be a valid text frame.
		if utf8.Valid(id) && json.Unmarshal(id, &s) == nil {
			return id
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(id, &n) == nil {
			return id
		}
	}
	return nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

// Message is any message from server to client, as clients decode it.
// Fields that a type does not carry are zero.
type Message struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id,omitempty"`
	Channel   string          `json:"channel,omitempty"`
	Epoch     string          `json:"epoch,omitempty"`
	Offset    uint64          `json:"offset,omitempty"`
	Recovered *bool           `json:"recovered,omitempty"`
	Snapshot  json.RawMessage `json:"snapshot,omitempty"`
	TS        int64           `json:"ts,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Code      string          `json:"code,omitempty"`
	Message   string          `json:"message,omitempty"`
	Exp       int64           `json:"exp,omitempty"`
	// welcome
	Session     string `json:"session,omitempty"`
	ServerTime  int64  `json:"server_time,omitempty"`
	HeartbeatMS int64  `json:"heartbeat_ms,omitempty"`
	Protocol    int    `json:"protocol,omitempty"`
}

// Messages calls fn with each message of a server frame, which holds one
// message object or a JSON array of them. It does not decode the messages.
func Messages(frame []byte, fn func(msg []byte) error) error {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return errors.New("empty frame")
	}
	if frame[0] != '[' {
		return fn(frame)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(frame, &list); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	for _, m := range list {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}
