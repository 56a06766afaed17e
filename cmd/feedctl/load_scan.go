package main

// The load generator reads every frame the daemon sends to every connection,
// so it must not decode frames into maps or allocate per message. This file
// is a small hand-written JSON scanner that walks a server frame (one message
// object or an array of them) and reports, per message, the few fields the
// load tool needs: type, channel, offset, and the publisher's send time
// "t" inside data. Everything else is skipped without being decoded. The
// scanner never allocates and never panics on malformed input; it stops at
// the first byte it cannot make sense of.

// msgKind is the type of a server message, as far as the load tool cares.
type msgKind uint8

const (
	kindOther msgKind = iota
	kindUpdate
	kindSubscribed
	kindWelcome
	kindPing
	kindPong
	kindError
	kindUnsubscribed
)

func (k msgKind) String() string {
	switch k {
	case kindUpdate:
		return "update"
	case kindSubscribed:
		return "subscribed"
	case kindWelcome:
		return "welcome"
	case kindPing:
		return "ping"
	case kindPong:
		return "pong"
	case kindError:
		return "error"
	case kindUnsubscribed:
		return "unsubscribed"
	}
	return "other"
}

// msgInfo is what the scanner reports of one message. Byte slices point into
// the frame (raw JSON string contents, escapes not undone).
type msgInfo struct {
	kind      msgKind
	channel   []byte
	code      []byte
	offset    uint64
	hasOffset bool
	t         int64 // data.t, the publisher's send time (unix nanoseconds)
	hasT      bool
}

// frameScanner iterates over the messages of one frame:
//
//	var sc frameScanner
//	sc.reset(frame)
//	for sc.next(&m) { ... }
//	if sc.bad { ... }
type frameScanner struct {
	b     []byte
	i     int
	array bool // the frame is a JSON array of messages
	first bool // no message read yet
	done  bool
	bad   bool // stopped on malformed input
}

func (s *frameScanner) reset(b []byte) {
	*s = frameScanner{b: b, first: true}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '[' {
		s.array = true
		s.i++
	}
}

// next reads the next message into m; false at the end of the frame or on
// malformed input (then bad is set).
func (s *frameScanner) next(m *msgInfo) bool {
	if s.done {
		return false
	}
	*m = msgInfo{}
	s.ws()
	if s.array {
		if !s.first {
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
				s.ws()
			} else if s.i < len(s.b) && s.b[s.i] == ']' {
				s.done = true
				return false
			} else {
				return s.fail()
			}
		} else if s.i < len(s.b) && s.b[s.i] == ']' {
			s.done = true
			return false
		}
	} else if !s.first {
		s.done = true
		return false
	}
	s.first = false
	if !s.message(m) {
		return s.fail()
	}
	return true
}

func (s *frameScanner) fail() bool {
	s.bad = true
	s.done = true
	return false
}

// ws skips JSON whitespace.
func (s *frameScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a JSON string at s.i and returns its raw contents.
func (s *frameScanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			j++ // skip the escaped byte
		case '"':
			s.i = j + 1
			return s.b[start:j], true
		}
	}
	return nil, false
}

// num reads a JSON integer: an optional minus and digits (a fraction or
// exponent is skipped; the integer part stands). ok is false when no digit is
// there or the digits overflow a uint64.
func (s *frameScanner) num() (u uint64, neg, ok bool) {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	n := 0
	ok = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if u > (1<<64-1-d)/10 {
			ok = false // overflow: keep consuming the digits
		}
		u = u*10 + d
		n++
		s.i++
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' || c >= '0' && c <= '9' {
			s.i++
			continue
		}
		break
	}
	return u, neg, ok && n > 0
}

// skip skips one JSON value of any kind.
func (s *frameScanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		// number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}

// objectStart consumes the opening brace of an object.
func (s *frameScanner) objectStart() bool {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	return true
}

// key reads the next member key of an object and the colon after it. more
// is false at the closing brace (consumed).
func (s *frameScanner) key(first bool) (key []byte, more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false, false
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, false, true
	}
	if !first {
		if s.b[s.i] != ',' {
			return nil, false, false
		}
		s.i++
		s.ws()
	}
	k, ok := s.str()
	if !ok {
		return nil, false, false
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return nil, false, false
	}
	s.i++
	s.ws()
	return k, true, true
}

// message reads one message object.
func (s *frameScanner) message(m *msgInfo) bool {
	if !s.objectStart() {
		return false
	}
	for first := true; ; first = false {
		k, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		switch string(k) { // no allocation: the compiler compares in place
		case "type":
			v, ok := s.str()
			if !ok {
				if !s.skip() {
					return false
				}
				continue
			}
			m.kind = kindOf(v)
		case "channel":
			v, ok := s.str()
			if !ok {
				if !s.skip() {
					return false
				}
				continue
			}
			m.channel = v
		case "code":
			v, ok := s.str()
			if !ok {
				if !s.skip() {
					return false
				}
				continue
			}
			m.code = v
		case "offset":
			start := s.i
			v, neg, ok := s.num()
			if !ok {
				s.i = start
				if !s.skip() {
					return false
				}
				continue
			}
			if !neg {
				m.offset, m.hasOffset = v, true
			}
		case "data":
			if s.i < len(s.b) && s.b[s.i] == '{' {
				if !s.data(m) {
					return false
				}
				continue
			}
			if !s.skip() {
				return false
			}
		default:
			if !s.skip() {
				return false
			}
		}
	}
}

// data reads the data object of an update, keeping its top-level "t".
func (s *frameScanner) data(m *msgInfo) bool {
	if !s.objectStart() {
		return false
	}
	for first := true; ; first = false {
		k, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if string(k) == "t" {
			start := s.i
			if v, neg, ok := s.num(); ok && v <= 1<<63-1 {
				m.t, m.hasT = int64(v), true
				if neg {
					m.t = -m.t
				}
				continue
			}
			s.i = start
		}
		if !s.skip() {
			return false
		}
	}
}

func kindOf(v []byte) msgKind {
	switch string(v) {
	case "update":
		return kindUpdate
	case "subscribed":
		return kindSubscribed
	case "welcome":
		return kindWelcome
	case "ping":
		return kindPing
	case "pong":
		return kindPong
	case "error":
		return kindError
	case "unsubscribed":
		return kindUnsubscribed
	}
	return kindOther
}
