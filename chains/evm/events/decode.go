package events

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// maxDecodeDepth bounds recursion over types Decode is given. Events from
// ParseSignature and FromABI nest at most MaxTypeDepth levels; this also
// stops hand-built types with cycles.
const maxDecodeDepth = 4 * MaxTypeDepth

// sizeCap is where size arithmetic on hand-built types saturates; anything
// that large is beyond any log's data.
const sizeCap = 1 << 50

// Decode decodes a log of event ev into a map of argument name to value.
//
// Indexed arguments come from topics, the others from data, in the forms the
// package documentation lists: addresses and byte strings as lower-case 0x
// hex, integers of every size as decimal strings, bools as bool, strings as
// string, arrays as []any and tuples as map[string]any. An indexed string,
// bytes, array or tuple is the 0x hex of its topic (the keccak256 hash of its
// encoding, all the log holds). An argument without a name is keyed argN,
// N its position among all arguments.
//
// For a non-anonymous event topics must be the event's ID followed by one
// topic per indexed argument; for an anonymous one, just the indexed
// arguments. A wrong topic count, a topic 0 other than ev.ID, data too short
// or with offsets or lengths pointing outside it, and values that do not fit
// their declared type are errors naming the argument (and element) at fault.
// Bytes of data after the encoded arguments are ignored, as Solidity does.
//
// Decode never panics, whatever the topics and data: they come from remote
// nodes. Its work is bounded by the data's size, so data whose offsets point
// many times at the same bytes (to make a small log decode to a huge value)
// is an error.
func Decode(ev abi.Event, topics []common.Hash, data []byte) (map[string]any, error) {
	indexed := 0
	for i := range ev.Inputs {
		if ev.Inputs[i].Indexed {
			indexed++
		}
	}
	want := indexed
	if !ev.Anonymous {
		want++
	}
	if len(topics) != want {
		if ev.Anonymous {
			return nil, fmt.Errorf("decode %s: the log has %d topics, want %d (one per indexed argument of the anonymous event)", eventName(&ev), len(topics), want)
		}
		return nil, fmt.Errorf("decode %s: the log has %d topics, want %d (the event ID and one per indexed argument)", eventName(&ev), len(topics), want)
	}
	next := 0
	if !ev.Anonymous {
		if topics[0] != ev.ID {
			return nil, fmt.Errorf("decode %s: topic 0 is %s, not the event's ID %s", eventName(&ev), topics[0].Hex(), ev.ID.Hex())
		}
		next = 1
	}
	d := decoder{
		nodes: (len(data)/32 + 2) * (MaxTypeDepth + 2),
		bytes: len(data),
	}
	out := make(map[string]any, len(ev.Inputs))
	pos := 0
	for i := range ev.Inputs {
		a := &ev.Inputs[i]
		name := a.Name
		if name == "" {
			name = "arg" + strconv.Itoa(i)
		}
		var (
			v   any
			err error
		)
		if a.Indexed {
			v, err = topicValue(&a.Type, &topics[next])
			next++
			if err != nil {
				return nil, fmt.Errorf("decode %s: indexed argument %q (topic %d): %w", eventName(&ev), name, next-1, err)
			}
		} else {
			var head int
			var dyn bool
			head, dyn, err = shape(&a.Type, 0)
			if err == nil {
				v, err = d.value(&a.Type, dyn, data, pos, 0)
				pos = addCap(pos, head)
			}
			if err != nil {
				return nil, fmt.Errorf("decode %s: data: %w", eventName(&ev), at(err, fmt.Sprintf("argument %q", name)))
			}
		}
		out[name] = v
	}
	if len(out) != len(ev.Inputs) {
		return nil, fmt.Errorf("decode %s: argument names are not unique", eventName(&ev))
	}
	return out, nil
}

func eventName(ev *abi.Event) string {
	if ev.Sig != "" {
		return ev.Sig
	}
	return strconv.Quote(ev.Name)
}

// topicValue decodes an indexed argument from its topic.
func topicValue(t *abi.Type, topic *common.Hash) (any, error) {
	switch t.T {
	case abi.StringTy, abi.BytesTy, abi.SliceTy, abi.ArrayTy, abi.TupleTy:
		// Stored as the keccak256 of the value's encoding.
		return hexString(topic[:]), nil
	}
	return elementary(t, topic[:])
}

// decoder holds the work budget of one Decode.
type decoder struct {
	// nodes is how many more values may be produced. An honest encoding
	// spends at least one 32-byte word per leaf, so values are bounded by
	// words times nesting depth.
	nodes int
	// bytes is how many more bytes of string and bytes payload may be
	// produced. An honest encoding stores each payload once, so the total is
	// bounded by the data's length.
	bytes int
}

// value decodes a value of type t whose head is at pos in buf: the value
// itself if t is static, an offset into buf to it if dynamic.
func (d *decoder) value(t *abi.Type, dynamic bool, buf []byte, pos, depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errorf("type nests deeper than %d levels", maxDecodeDepth)
	}
	d.nodes--
	if d.nodes < 0 {
		return nil, errorf("the data decodes to far more values than its size allows (offsets reuse the same bytes)")
	}
	if pos < 0 || pos > len(buf) {
		return nil, errorf("data too short: the value would start at byte %d of %d", pos, len(buf))
	}
	sub := buf[pos:]
	if dynamic {
		if len(sub) < 32 {
			return nil, errorf("data too short: need a 32-byte offset at byte %d, have %d bytes", pos, len(sub))
		}
		off, ok := readSize(sub[:32])
		if !ok || off > len(buf) {
			return nil, errorf("offset %s at byte %d points past the end of the data (%d bytes)", wordNumber(sub[:32]), pos, len(buf))
		}
		sub = buf[off:]
	}
	switch t.T {
	case abi.TupleTy:
		return d.tuple(t, sub, depth)
	case abi.ArrayTy:
		if t.Elem == nil || t.Size < 0 {
			return nil, errorf("malformed array type %q", t.String())
		}
		return d.array(t.Elem, t.Size, sub, depth)
	case abi.SliceTy:
		if t.Elem == nil {
			return nil, errorf("malformed slice type %q", t.String())
		}
		if len(sub) < 32 {
			return nil, errorf("data too short: need a 32-byte array length, have %d bytes", len(sub))
		}
		n, ok := readSize(sub[:32])
		if !ok || n > len(sub) {
			return nil, errorf("array length %s is larger than the data (%d bytes)", wordNumber(sub[:32]), len(sub))
		}
		return d.array(t.Elem, n, sub[32:], depth)
	case abi.StringTy, abi.BytesTy:
		if len(sub) < 32 {
			return nil, errorf("data too short: need a 32-byte length, have %d bytes", len(sub))
		}
		n, ok := readSize(sub[:32])
		if !ok || n > len(sub)-32 {
			return nil, errorf("length %s is larger than the %d bytes of data after it", wordNumber(sub[:32]), len(sub)-32)
		}
		d.bytes -= n
		if d.bytes < 0 {
			return nil, errorf("the data decodes to more string and bytes content than its size allows (offsets reuse the same bytes)")
		}
		if t.T == abi.StringTy {
			return string(sub[32 : 32+n]), nil
		}
		return hexString(sub[32 : 32+n]), nil
	}
	if len(sub) < 32 {
		return nil, errorf("data too short: need 32 bytes at byte %d, have %d", pos, len(sub))
	}
	return elementary(t, sub[:32])
}

// array decodes n elements of type elem laid out from the start of body.
func (d *decoder) array(elem *abi.Type, n int, body []byte, depth int) (any, error) {
	head, dyn, err := shape(elem, depth+1)
	if err != nil {
		return nil, err
	}
	if head > 0 && n > len(body)/head {
		return nil, errorf("data too short: %d elements of %d bytes need %s bytes, have %d", n, head, productText(n, head), len(body))
	}
	if n > d.nodes {
		return nil, errorf("array of %d elements: the data decodes to far more values than its size allows", n)
	}
	out := make([]any, n)
	for i := range out {
		v, err := d.value(elem, dyn, body, i*head, depth+1)
		if err != nil {
			return nil, at(err, "["+strconv.Itoa(i)+"]")
		}
		out[i] = v
	}
	return out, nil
}

// tuple decodes a tuple's components laid out from the start of body.
func (d *decoder) tuple(t *abi.Type, body []byte, depth int) (any, error) {
	if len(t.TupleRawNames) != len(t.TupleElems) {
		return nil, errorf("malformed tuple type %q: %d names for %d components", t.String(), len(t.TupleRawNames), len(t.TupleElems))
	}
	out := make(map[string]any, len(t.TupleElems))
	pos := 0
	for i, elem := range t.TupleElems {
		name := t.TupleRawNames[i]
		if name == "" {
			name = "arg" + strconv.Itoa(i)
		}
		if elem == nil {
			return nil, errorf("malformed tuple type %q: component %q has no type", t.String(), name)
		}
		head, dyn, err := shape(elem, depth+1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(elem, dyn, body, pos, depth+1)
		if err != nil {
			return nil, at(err, "."+name)
		}
		out[name] = v
		pos = addCap(pos, head)
	}
	if len(out) != len(t.TupleElems) {
		return nil, errorf("malformed tuple type %q: component names are not unique", t.String())
	}
	return out, nil
}

// shape returns the size of a type's head (its whole encoding if static, a
// 32-byte offset if dynamic) and whether it is dynamic.
func shape(t *abi.Type, depth int) (int, bool, error) {
	if depth > maxDecodeDepth {
		return 0, false, errorf("type nests deeper than %d levels", maxDecodeDepth)
	}
	switch t.T {
	case abi.StringTy, abi.BytesTy, abi.SliceTy:
		return 32, true, nil
	case abi.ArrayTy:
		if t.Elem == nil || t.Size < 0 {
			return 0, false, errorf("malformed array type %q", t.String())
		}
		head, dyn, err := shape(t.Elem, depth+1)
		if err != nil || dyn {
			return 32, dyn, err
		}
		return mulCap(head, t.Size), false, nil
	case abi.TupleTy:
		total, dynamic := 0, false
		for _, e := range t.TupleElems {
			if e == nil {
				return 0, false, errorf("malformed tuple type %q", t.String())
			}
			head, dyn, err := shape(e, depth+1)
			if err != nil {
				return 0, false, err
			}
			dynamic = dynamic || dyn
			total = addCap(total, head)
		}
		if dynamic {
			return 32, true, nil
		}
		return total, false, nil
	}
	return 32, false, nil
}

func addCap(a, b int) int {
	if a >= sizeCap || b >= sizeCap || a+b >= sizeCap {
		return sizeCap
	}
	return a + b
}

func mulCap(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= sizeCap || b >= sizeCap || a > sizeCap/b {
		return sizeCap
	}
	return a * b
}

// readSize reads a 32-byte word as a non-negative int no larger than
// sizeCap; ok is false for larger values.
func readSize(w []byte) (int, bool) {
	for _, b := range w[:24] {
		if b != 0 {
			return 0, false
		}
	}
	v := binary.BigEndian.Uint64(w[24:32])
	if v > sizeCap {
		return 0, false
	}
	return int(v), true
}

// productText formats a*b without overflow.
func productText(a, b int) string {
	return new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b))).String()
}

// wordNumber formats a word as a number for error messages.
func wordNumber(w []byte) string {
	if n, ok := readSize(w); ok {
		return strconv.Itoa(n)
	}
	return "0x" + new(big.Int).SetBytes(w).Text(16)
}

// elementary decodes a value type from its 32-byte word, strictly: a value
// that does not fit the type is an error.
func elementary(t *abi.Type, w []byte) (any, error) {
	switch t.T {
	case abi.UintTy:
		if t.Size < 1 || t.Size > 256 {
			return nil, errorf("unsupported integer size uint%d", t.Size)
		}
		if !topBitsZero(w, 256-t.Size) {
			return nil, errorf("value 0x%x does not fit uint%d", w, t.Size)
		}
		return uintText(w), nil
	case abi.IntTy:
		if t.Size < 1 || t.Size > 256 {
			return nil, errorf("unsupported integer size int%d", t.Size)
		}
		if !topBitsEqual(w, 256-t.Size+1) {
			return nil, errorf("value 0x%x does not fit int%d", w, t.Size)
		}
		return intText(w), nil
	case abi.BoolTy:
		if !topBitsZero(w, 248) || w[31] > 1 {
			return nil, errorf("value 0x%x is not a bool (0 or 1)", w)
		}
		return w[31] == 1, nil
	case abi.AddressTy:
		if !topBitsZero(w, 96) {
			return nil, errorf("value 0x%x is not an address (the first 12 bytes must be zero)", w)
		}
		return hexString(w[12:]), nil
	case abi.FixedBytesTy:
		if t.Size < 1 || t.Size > 32 {
			return nil, errorf("unsupported fixed bytes size bytes%d", t.Size)
		}
		for _, b := range w[t.Size:] {
			if b != 0 {
				return nil, errorf("value 0x%x is not a bytes%d (the last %d bytes must be zero)", w, t.Size, 32-t.Size)
			}
		}
		return hexString(w[:t.Size]), nil
	case abi.FunctionTy:
		for _, b := range w[24:] {
			if b != 0 {
				return nil, errorf("value 0x%x is not a function (the last 8 bytes must be zero)", w)
			}
		}
		return hexString(w[:24]), nil
	case abi.HashTy:
		return hexString(w), nil
	}
	return nil, errorf("unsupported type %q", t.String())
}

// topBitsZero reports whether the first n bits of w are zero.
func topBitsZero(w []byte, n int) bool {
	full := n / 8
	for _, b := range w[:full] {
		if b != 0 {
			return false
		}
	}
	if rem := n % 8; rem != 0 {
		return w[full]>>(8-rem) == 0
	}
	return true
}

// topBitsEqual reports whether the first n (>= 1) bits of w are all equal:
// a two's complement number sign-extended from bit 256-n.
func topBitsEqual(w []byte, n int) bool {
	if w[0]&0x80 == 0 {
		return topBitsZero(w, n)
	}
	full := n / 8
	for _, b := range w[:full] {
		if b != 0xff {
			return false
		}
	}
	if rem := n % 8; rem != 0 {
		return w[full]>>(8-rem) == 0xff>>(8-rem)
	}
	return true
}

// uintText formats an unsigned 256-bit big-endian word in decimal.
func uintText(w []byte) string {
	return decimal(w, false)
}

// intText formats a signed (two's complement) 256-bit word in decimal.
func intText(w []byte) string {
	return decimal(w, w[0]&0x80 != 0)
}

// decimal formats a 256-bit big-endian word in decimal, as a negative two's
// complement number if neg, without big.Int's allocations.
func decimal(w []byte, neg bool) string {
	var limbs [4]uint64 // most significant first
	for i := range limbs {
		limbs[i] = binary.BigEndian.Uint64(w[8*i:])
	}
	if neg {
		// Negate: invert and add one.
		carry := uint64(1)
		for i := len(limbs) - 1; i >= 0; i-- {
			limbs[i], carry = bits.Add64(^limbs[i], 0, carry)
		}
	}
	if limbs[0]|limbs[1]|limbs[2] == 0 {
		if neg {
			return "-" + strconv.FormatUint(limbs[3], 10)
		}
		return strconv.FormatUint(limbs[3], 10)
	}
	// 2^256 has 78 digits; one more for the sign.
	var buf [80]byte
	pos := len(buf)
	for {
		// Divide by 10^19, the largest power of ten below 2^64.
		var rem uint64
		for i := range limbs {
			limbs[i], rem = bits.Div64(rem, limbs[i], 1e19)
		}
		if limbs[0]|limbs[1]|limbs[2]|limbs[3] == 0 {
			for rem > 0 {
				pos--
				buf[pos] = byte('0' + rem%10)
				rem /= 10
			}
			break
		}
		for range 19 {
			pos--
			buf[pos] = byte('0' + rem%10)
			rem /= 10
		}
	}
	if neg {
		pos--
		buf[pos] = '-'
	}
	return string(buf[pos:])
}

// hexString formats b as "0x" and lower-case hex digits.
func hexString(b []byte) string {
	if len(b) <= 32 {
		var buf [66]byte
		buf[0], buf[1] = '0', 'x'
		hex.Encode(buf[2:], b)
		return string(buf[:2+2*len(b)])
	}
	var sb strings.Builder
	sb.Grow(2 + 2*len(b))
	sb.WriteString("0x")
	var chunk [128]byte
	for len(b) > 0 {
		n := min(len(b), len(chunk)/2)
		hex.Encode(chunk[:], b[:n])
		sb.Write(chunk[:2*n])
		b = b[n:]
	}
	return sb.String()
}

// decodeError is a decoding error with the path to the value at fault,
// built up as the error returns through arrays and tuples.
type decodeError struct {
	segs []string // innermost first
	msg  string
}

func (e *decodeError) Error() string {
	var b strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		b.WriteString(e.segs[i])
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

func errorf(format string, args ...any) error {
	return &decodeError{msg: fmt.Sprintf(format, args...)}
}

// at prefixes a path segment to a decoding error.
func at(err error, seg string) error {
	if de, ok := err.(*decodeError); ok {
		de.segs = append(de.segs, seg)
		return de
	}
	return &decodeError{segs: []string{seg}, msg: err.Error()}
}
