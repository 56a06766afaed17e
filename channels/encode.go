package channels

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigit[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"

// updateFrame returns the update message of p for a connection that named
// the channel alias ("" for the canonical name). The canonical encoding is
// made once per publication and shared by every connection.
func (p *Publication) updateFrame(alias string) []byte {
	if alias == "" {
		return p.canonicalFrame()
	}
	return appendUpdate(nil, alias, p)
}

// canonicalFrame encodes the update message with the canonical channel name,
// once.
func (p *Publication) canonicalFrame() []byte {
	if f := p.frame.Load(); f != nil {
		return *f
	}
	b := appendUpdate(make([]byte, 0, 64+len(p.Channel)+len(p.Data)), p.Channel, p)
	p.frame.CompareAndSwap(nil, &b)
	return *p.frame.Load()
}

func appendUpdate(b []byte, channel string, p *Publication) []byte {
	b = append(b, `{"type":"update","channel":`...)
	b = appendString(b, channel)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, p.Offset, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, p.Time.UnixMilli(), 10)
	b = append(b, `,"data":`...)
	b = append(b, p.Data...)
	return append(b, '}')
}

// message is an outgoing non-update message; its fields follow PROTOCOL.md.
type message struct {
	Type        string          `json:"type"`
	ID          json.RawMessage `json:"id,omitempty"`
	Channel     string          `json:"channel,omitempty"`
	Epoch       *string         `json:"epoch,omitempty"`
	Offset      *uint64         `json:"offset,omitempty"`
	Recovered   *bool           `json:"recovered,omitempty"`
	Snapshot    json.RawMessage `json:"snapshot,omitempty"`
	Code        string          `json:"code,omitempty"`
	Message     string          `json:"message,omitempty"`
	Exp         int64           `json:"exp,omitempty"`
	TS          int64           `json:"ts,omitempty"`
	Session     string          `json:"session,omitempty"`
	ServerTime  int64           `json:"server_time,omitempty"`
	HeartbeatMS int64           `json:"heartbeat_ms,omitempty"`
	Protocol    int             `json:"protocol,omitempty"`
}

func (m message) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil { // only RawMessage fields can fail, and they hold valid JSON
		panic("channels: encode message: " + err.Error())
	}
	return b
}
