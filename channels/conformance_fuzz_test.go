package channels

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/feedd/feedd/channels/protocol"
)

// FuzzDecodeRequest checks protocol.DecodeRequest, which the sessions call
// on every client frame: it never panics; a refusal is a *RequestError with
// code bad_request whose id, when set, is a string or number; an accepted
// request has a known type and the fields that type needs.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping","id":1}`,
		`{"type":"pong"}`,
		`{"type":"subscribe","id":"a","channels":["prices:ETH-USD","wallet:0xABC"]}`,
		`{"type":"subscribe","channels":["ops:a"],"since":{"ops:a":{"epoch":"e","offset":3}}}`,
		`{"type":"unsubscribe","id":-1.5e3,"channels":["ops:a"]}`,
		`{"type":"auth","id":"x","token":"t"}`,
		`{"type":"subscribe","channels":[]}`,
		`{"type":"nope"}`,
		`{"id":{"a":1}}`,
		`{"type":"ping","id":[1]}`,
		`{"type":"ping",`,
		`[1,2]`,
		`null`,
		``,
		`{"type":"ping"}{"type":"ping"}`,
		`{"type":"ping","extra":1}`,
		"{\"type\":\"ping\",\"id\":\"\xff\"}",
		`{"type":"ping","id":1e400}`,
		`{"type":"ping","id":"\u003c\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	known := map[string]bool{protocol.TypeSubscribe: true, protocol.TypeUnsubscribe: true, protocol.TypePing: true, protocol.TypePong: true, protocol.TypeAuth: true}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := protocol.DecodeRequest(frame)
		if err != nil {
			var re *protocol.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("DecodeRequest(%q) error %T %v, want a *RequestError", frame, err, err)
			}
			if re.Code != protocol.ErrBadRequest || re.Msg == "" {
				t.Fatalf("DecodeRequest(%q) = %+v, want code bad_request and a message", frame, re)
			}
			if re.ID != nil {
				checkID(t, frame, re.ID)
			}
			return
		}
		if !known[req.Type] {
			t.Fatalf("DecodeRequest(%q) accepted type %q", frame, req.Type)
		}
		if req.ID != nil {
			checkID(t, frame, req.ID)
		}
		switch req.Type {
		case protocol.TypeSubscribe:
			if len(req.Channels) == 0 {
				t.Fatalf("DecodeRequest(%q) accepted a subscribe without channels", frame)
			}
			for ch := range req.Since {
				found := false
				for _, c := range req.Channels {
					found = found || c == ch
				}
				if !found {
					t.Fatalf("DecodeRequest(%q) accepted since for %q, not in channels", frame, ch)
				}
			}
		case protocol.TypeUnsubscribe:
			if len(req.Channels) == 0 || req.Since != nil {
				t.Fatalf("DecodeRequest(%q) accepted an unsubscribe with channels %q and since %v", frame, req.Channels, req.Since)
			}
		case protocol.TypeAuth:
			if req.Token == "" {
				t.Fatalf("DecodeRequest(%q) accepted an auth without token", frame)
			}
		}
		// The reply echoes the id inside a JSON message: it must encode.
		if _, err := json.Marshal(message{Type: protocol.TypePong, ID: req.ID}); err != nil {
			t.Fatalf("DecodeRequest(%q): id %q cannot be echoed: %v", frame, req.ID, err)
		}
		// Not checked here: that an accepted frame is valid JSON and that
		// the echoed id is valid UTF-8; see TestConformanceTrailingGarbage
		// and TestConformanceInvalidUTF8 for the known exceptions.
	})
}

func checkID(t *testing.T, frame []byte, id json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(id))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("DecodeRequest(%q): id %q is not one JSON value: %v", frame, id, err)
	}
	switch v.(type) {
	case string, json.Number:
	default:
		t.Fatalf("DecodeRequest(%q): id %q is a %T, want a string or number", frame, id, v)
	}
}
