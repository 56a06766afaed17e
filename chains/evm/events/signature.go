package events

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

const (
	// MaxTypeDepth is the deepest nesting of arrays and tuples an argument's
	// type may have: uint256[][] has depth 2, (uint256[] a)[] has depth 3.
	MaxTypeDepth = 16

	// MaxEncodedSize is the largest number of bytes the smallest ABI encoding
	// of an event's arguments may take. A log's data cannot be larger than a
	// block allows (about 4 MiB at 8 gas a byte and 30M gas), so a type needing
	// more could never be emitted; the bound keeps go-ethereum's reflection of
	// huge fixed arrays such as uint256[1000000][1000000] from running away.
	MaxEncodedSize = 4 << 20

	// maxIndexed is the most indexed arguments a non-anonymous event has: the
	// EVM's LOG4 carries four topics and topic 0 is the event's ID.
	maxIndexed = 3
)

// ParseSignature parses a Solidity event declaration into an abi.Event.
//
// The syntax is Solidity's: `Name(type [indexed] [name], ...)`, optionally
// preceded by `event` and followed by `anonymous` and/or `;`, for example
// `event Transfer(address indexed from, address indexed to, uint256 value);`.
// The canonical form `Transfer(address,address,uint256)` parses too.
//
// Types are the elementary ABI types (address, `address payable`, bool,
// string, bytes, bytes1..bytes32, uint8..uint256 and int8..int256 in steps of
// 8, `uint`/`int` meaning uint256/int256, `byte` meaning bytes1, function),
// fixed arrays (`address[3]`), dynamic arrays (`uint256[]`), any nesting of
// those, and tuples written `(uint256 a, address b)` or `tuple(uint256 a,
// address b)`, themselves usable as array elements. Fixed-point types are not
// supported (go-ethereum cannot decode them).
//
// Unnamed arguments are named by position as go-ethereum does: `arg0`,
// `arg1`, ... by their index among all the event's arguments. Unnamed tuple
// components are likewise named by their index within the tuple.
//
// The returned event's Sig is the canonical signature (e.g.
// `Transfer(address,address,uint256)`) and its ID (topic 0) is the keccak256
// of Sig. Types may nest at most MaxTypeDepth levels and the arguments'
// smallest encoding may take at most MaxEncodedSize bytes. Errors quote the
// signature and the offending part: an unknown type, more than 3 indexed
// arguments (4 for anonymous events), duplicate argument names, unbalanced
// parentheses, a missing event name, or any other syntax error.
func ParseSignature(sig string) (abi.Event, error) {
	d, err := parseDecl(sig)
	if err != nil {
		return abi.Event{}, fmt.Errorf("event signature %s: %w", quote(sig), err)
	}
	ev, err := buildEvent(d.name, d.anonymous, d.params)
	if err != nil {
		return abi.Event{}, fmt.Errorf("event signature %s: %w", quote(sig), err)
	}
	return ev, nil
}

// decl is a parsed event declaration.
type decl struct {
	name      string
	anonymous bool
	params    []param
}

// param is one parsed argument (or tuple component) before it becomes an
// abi.Argument.
type param struct {
	name       string
	base       string // canonical elementary type or "tuple"
	dims       []int  // array suffixes, innermost first; -1 is []
	components []param
	indexed    bool
	// internalType is passed through from ABI JSON (struct names).
	internalType string
}

// typeString is the ABI type name go-ethereum's NewType takes:
// "uint256[2][]", "tuple[]".
func (p *param) typeString() string {
	if len(p.dims) == 0 {
		return p.base
	}
	var b strings.Builder
	b.WriteString(p.base)
	p.writeDims(&b)
	return b.String()
}

// canonical is the type as it appears in the canonical signature:
// "(uint256,address)[]".
func (p *param) canonical() string {
	if p.base != "tuple" {
		return p.typeString()
	}
	var b strings.Builder
	b.WriteByte('(')
	for i := range p.components {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.components[i].canonical())
	}
	b.WriteByte(')')
	p.writeDims(&b)
	return b.String()
}

func (p *param) writeDims(b *strings.Builder) {
	for _, d := range p.dims {
		if d < 0 {
			b.WriteString("[]")
		} else {
			b.WriteString("[" + strconv.Itoa(d) + "]")
		}
	}
}

// describe names a parameter in errors: `"amount" (uint256)`.
func (p *param) describe(i int) string {
	if p.name == "" {
		return fmt.Sprintf("argument %d (%s)", i, p.canonical())
	}
	return fmt.Sprintf("argument %q (%s)", p.name, p.canonical())
}

// buildEvent checks the parameters and makes the abi.Event.
func buildEvent(name string, anonymous bool, params []param) (abi.Event, error) {
	if name == "" {
		return abi.Event{}, fmt.Errorf("missing event name")
	}
	indexed := 0
	total := 0
	for i := range params {
		p := &params[i]
		if p.indexed {
			indexed++
		}
		size, err := checkParam(p, 0)
		if err != nil {
			return abi.Event{}, fmt.Errorf("%s: %w", p.describe(i), err)
		}
		if !p.indexed {
			total = satAdd(total, size)
		}
	}
	limit := maxIndexed
	if anonymous {
		limit++
	}
	if indexed > limit {
		var names []string
		for i := range params {
			if params[i].indexed {
				names = append(names, params[i].describe(i))
			}
		}
		kind := "an event"
		if anonymous {
			kind = "an anonymous event"
		}
		return abi.Event{}, fmt.Errorf("%d indexed arguments (%s), but %s has at most %d", indexed, strings.Join(names, ", "), kind, limit)
	}
	if total > MaxEncodedSize {
		return abi.Event{}, fmt.Errorf("the arguments need more than %d bytes of log data, more than a log can hold", MaxEncodedSize)
	}
	args := make(abi.Arguments, len(params))
	for i := range params {
		p := &params[i]
		t, err := abi.NewType(p.typeString(), p.internalType, marshaling(p.components))
		if err != nil {
			return abi.Event{}, fmt.Errorf("%s: %w", p.describe(i), err)
		}
		args[i] = abi.Argument{Name: p.name, Type: t, Indexed: p.indexed}
	}
	ev := abi.NewEvent(name, name, anonymous, args)
	seen := make(map[string]int, len(ev.Inputs))
	for i, a := range ev.Inputs {
		if j, dup := seen[a.Name]; dup {
			return abi.Event{}, fmt.Errorf("duplicate argument name %q (arguments %d and %d)", a.Name, j, i)
		}
		seen[a.Name] = i
	}
	return ev, nil
}

// marshaling converts tuple components for abi.NewType.
func marshaling(ps []param) []abi.ArgumentMarshaling {
	if len(ps) == 0 {
		return nil
	}
	out := make([]abi.ArgumentMarshaling, len(ps))
	for i := range ps {
		out[i] = abi.ArgumentMarshaling{
			Name:         ps[i].name,
			Type:         ps[i].typeString(),
			InternalType: ps[i].internalType,
			Components:   marshaling(ps[i].components),
		}
	}
	return out
}

// checkParam checks a parameter's type against MaxTypeDepth and
// MaxEncodedSize, that tuples have uniquely named components, and returns
// how many bytes of data the argument takes at least (head and tail).
func checkParam(p *param, depth int) (int, error) {
	head, tail, _, err := paramSize(p, depth)
	if err != nil {
		return 0, err
	}
	size := satAdd(head, tail)
	if size > MaxEncodedSize {
		return 0, fmt.Errorf("type %s needs more than %d bytes encoded, more than a log can hold", p.canonical(), MaxEncodedSize)
	}
	return size, nil
}

// paramSize returns the head size, the smallest tail size and whether the
// type is dynamic, after checking nesting and component names. Sizes
// saturate just above MaxEncodedSize.
func paramSize(p *param, depth int) (head, tail int, dynamic bool, err error) {
	depth += len(p.dims)
	if p.base == "tuple" {
		depth++
	}
	if depth > MaxTypeDepth {
		return 0, 0, false, fmt.Errorf("type %s nests deeper than %d levels", p.canonical(), MaxTypeDepth)
	}
	// The innermost (base) type.
	var size int
	switch p.base {
	case "string", "bytes":
		size, dynamic = 32, true
	case "tuple":
		if len(p.components) == 0 {
			return 0, 0, false, fmt.Errorf("empty tuple")
		}
		seen := make(map[string]bool, len(p.components))
		for i := range p.components {
			c := &p.components[i]
			if c.name == "" {
				return 0, 0, false, fmt.Errorf("tuple component %d has no name", i)
			}
			if !validComponentName(c.name) {
				return 0, 0, false, fmt.Errorf("tuple component name %q is not supported: go-ethereum needs letters, digits and _, not starting with a digit", c.name)
			}
			if seen[c.name] {
				return 0, 0, false, fmt.Errorf("duplicate tuple component name %q", c.name)
			}
			seen[c.name] = true
			if c.indexed {
				return 0, 0, false, fmt.Errorf("tuple component %q is marked indexed", c.name)
			}
			h, t, dyn, err := paramSize(c, depth)
			if err != nil {
				return 0, 0, false, fmt.Errorf("component %q: %w", c.name, err)
			}
			size = satAdd(size, satAdd(h, t))
			dynamic = dynamic || dyn
		}
	default:
		size = 32
	}
	// Wrap in the array dimensions, innermost first. size is the value's
	// whole smallest encoding; a dynamic value sits behind a 32-byte offset.
	for _, d := range p.dims {
		elemHead := size
		if dynamic {
			elemHead = satAdd(32, size)
		}
		if d < 0 {
			size, dynamic = 32, true
			continue
		}
		size = satMul(d, elemHead)
	}
	if dynamic {
		return 32, size, true, nil
	}
	return size, 0, false, nil
}

// validComponentName reports whether go-ethereum's abi.NewType takes name
// for a tuple component: it must make a Go identifier once converted with
// abi.ToCamelCase.
func validComponentName(name string) bool {
	field := abi.ToCamelCase(name)
	if field == "" {
		return false
	}
	for i, r := range field {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r >= utf8.RuneSelf && unicode.IsLetter(r)
		if !letter && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// satAdd and satMul saturate just above MaxEncodedSize.
func satAdd(a, b int) int {
	if a > MaxEncodedSize || b > MaxEncodedSize || a+b > MaxEncodedSize {
		return MaxEncodedSize + 1
	}
	return a + b
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > MaxEncodedSize || b > MaxEncodedSize || a > (MaxEncodedSize+1)/b {
		return MaxEncodedSize + 1
	}
	return a * b
}

// canonicalElementary returns the canonical name of an elementary type name
// as written in Solidity, or an error naming it.
func canonicalElementary(name string) (string, error) {
	switch name {
	case "address", "bool", "string", "bytes", "function":
		return name, nil
	case "uint", "int":
		return name + "256", nil
	case "byte":
		return "bytes1", nil
	case "fixed", "ufixed":
		return "", fmt.Errorf("fixed-point type %q is not supported (go-ethereum cannot decode it)", name)
	}
	for _, pre := range [...]string{"uint", "int", "bytes", "ufixed", "fixed"} {
		digits, ok := strings.CutPrefix(name, pre)
		if !ok {
			continue
		}
		if pre == "fixed" || pre == "ufixed" {
			if digits != "" && (digits[0] >= '0' && digits[0] <= '9') {
				return "", fmt.Errorf("fixed-point type %q is not supported (go-ethereum cannot decode it)", name)
			}
			continue
		}
		n, ok := smallDecimal(digits)
		if !ok {
			continue
		}
		switch pre {
		case "bytes":
			if n < 1 || n > 32 {
				return "", fmt.Errorf("unknown type %q: bytesN needs 1 <= N <= 32", name)
			}
		default:
			if n < 8 || n > 256 || n%8 != 0 {
				return "", fmt.Errorf("unknown type %q: %sN needs N a multiple of 8 from 8 to 256", name, pre)
			}
		}
		return name, nil
	}
	return "", fmt.Errorf("unknown type %q", name)
}

// smallDecimal parses 1 to 3 decimal digits without a leading zero.
func smallDecimal(s string) (int, bool) {
	if s == "" || len(s) > 3 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// quote quotes user input for an error message, shortening long input.
func quote(s string) string {
	const max = 160
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Tokens of the declaration syntax.

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokNumber
	tokPunct
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) is(text string) bool { return t.kind != tokEOF && t.text == text }

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of input"
	}
	return fmt.Sprintf("%q at offset %d", t.text, t.pos)
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// tokenize splits s into identifiers, numbers and punctuation.
func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j])) {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j], i})
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j])) {
				j++
			}
			toks = append(toks, token{tokNumber, s[i:j], i})
			i = j
		case strings.IndexByte("()[],;", c) >= 0:
			toks = append(toks, token{tokPunct, s[i : i+1], i})
			i++
		default:
			r := []rune(s[i:min(len(s), i+4)])[0]
			return nil, fmt.Errorf("unexpected character %q at offset %d", r, i)
		}
	}
	return toks, nil
}

// checkParens reports the first unbalanced parenthesis.
func checkParens(s string) error {
	var open []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			open = append(open, i)
		case ')':
			if len(open) == 0 {
				return fmt.Errorf("unbalanced parentheses: %q at offset %d closes nothing", ")", i)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		i := open[len(open)-1]
		return fmt.Errorf("unbalanced parentheses: %q at offset %d is never closed (near %s)", "(", i, quote(s[i:]))
	}
	return nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: tokEOF}
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) expect(text string) error {
	t := p.next()
	if !t.is(text) || t.kind != tokPunct {
		return fmt.Errorf("expected %q, found %s", text, t)
	}
	return nil
}

// parseDecl parses `[event] Name(params) [anonymous] [;]`.
func parseDecl(sig string) (decl, error) {
	if strings.TrimSpace(sig) == "" {
		return decl{}, fmt.Errorf("empty signature")
	}
	if err := checkParens(sig); err != nil {
		return decl{}, err
	}
	toks, err := tokenize(sig)
	if err != nil {
		return decl{}, err
	}
	p := &parser{toks: toks}
	var d decl
	t := p.next()
	if t.kind == tokIdent && t.text == "event" {
		if p.peek().kind != tokIdent {
			return decl{}, fmt.Errorf("missing event name after %q", "event")
		}
		t = p.next()
	}
	switch {
	case t.kind == tokPunct && t.text == "(":
		return decl{}, fmt.Errorf("missing event name before %q", "(")
	case t.kind != tokIdent:
		return decl{}, fmt.Errorf("expected an event name, found %s", t)
	}
	d.name = t.text
	if err := p.expect("("); err != nil {
		return decl{}, fmt.Errorf("after event name %q: %w", d.name, err)
	}
	if p.peek().is(")") {
		p.next()
	} else {
		for {
			prm, err := p.param(true)
			if err != nil {
				return decl{}, fmt.Errorf("argument %d: %w", len(d.params), err)
			}
			d.params = append(d.params, prm)
			t := p.next()
			if t.is(")") {
				break
			}
			if !t.is(",") {
				return decl{}, fmt.Errorf("argument %d: expected \",\" or \")\", found %s", len(d.params)-1, t)
			}
		}
	}
	if t := p.peek(); t.is("anonymous") && t.kind == tokIdent {
		p.next()
		d.anonymous = true
	}
	if p.peek().is(";") {
		p.next()
	}
	if t := p.next(); t.kind != tokEOF {
		return decl{}, fmt.Errorf("unexpected %s after the argument list", t)
	}
	return d, nil
}

// param parses `type [indexed] [name]`; indexed only at the top level.
func (p *parser) param(top bool) (param, error) {
	prm, err := p.typ()
	if err != nil {
		return param{}, err
	}
	if t := p.peek(); t.kind == tokIdent && t.text == "indexed" {
		if !top {
			return param{}, fmt.Errorf("%s: tuple components cannot be indexed", t)
		}
		p.next()
		prm.indexed = true
	}
	if t := p.peek(); t.kind == tokIdent {
		switch t.text {
		case "memory", "calldata", "storage":
			return param{}, fmt.Errorf("%s: event arguments take no data location", t)
		case "indexed":
			return param{}, fmt.Errorf("%s: repeated indexed", t)
		}
		p.next()
		prm.name = t.text
	}
	return prm, nil
}

// typ parses a type with its array suffixes.
func (p *parser) typ() (param, error) {
	var prm param
	t := p.next()
	switch {
	case t.kind == tokPunct && t.text == "(":
		comps, err := p.components()
		if err != nil {
			return param{}, err
		}
		prm.base, prm.components = "tuple", comps
	case t.kind == tokIdent && t.text == "tuple":
		if err := p.expect("("); err != nil {
			return param{}, fmt.Errorf("after %q: %w", "tuple", err)
		}
		comps, err := p.components()
		if err != nil {
			return param{}, err
		}
		prm.base, prm.components = "tuple", comps
	case t.kind == tokIdent:
		base, err := canonicalElementary(t.text)
		if err != nil {
			return param{}, err
		}
		prm.base = base
		if base == "address" && p.peek().is("payable") && p.peek().kind == tokIdent {
			p.next()
		}
	default:
		return param{}, fmt.Errorf("expected a type, found %s", t)
	}
	dims, err := p.dims()
	if err != nil {
		return param{}, err
	}
	prm.dims = dims
	return prm, nil
}

// dims parses array suffixes: `[3]`, `[]`, repeated.
func (p *parser) dims() ([]int, error) {
	var dims []int
	for p.peek().is("[") {
		open := p.next()
		t := p.next()
		switch {
		case t.is("]"):
			dims = append(dims, -1)
			continue
		case t.kind == tokNumber:
			n, err := strconv.Atoi(t.text)
			if err != nil || n < 1 || n > MaxEncodedSize/32 {
				return nil, fmt.Errorf("array size %q at offset %d: want a decimal number from 1 to %d", t.text, t.pos, MaxEncodedSize/32)
			}
			dims = append(dims, n)
		default:
			return nil, fmt.Errorf("array size at offset %d: want a decimal number or %q, found %s", open.pos, "]", t)
		}
		if err := p.expect("]"); err != nil {
			return nil, fmt.Errorf("array suffix at offset %d: %w", open.pos, err)
		}
	}
	return dims, nil
}

// components parses a tuple's components after its "(".
func (p *parser) components() ([]param, error) {
	if p.peek().is(")") {
		return nil, fmt.Errorf("empty tuple at offset %d", p.peek().pos)
	}
	var comps []param
	for {
		c, err := p.param(false)
		if err != nil {
			return nil, fmt.Errorf("tuple component %d: %w", len(comps), err)
		}
		if c.name == "" {
			c.name = "arg" + strconv.Itoa(len(comps))
		}
		comps = append(comps, c)
		t := p.next()
		if t.is(")") {
			return comps, nil
		}
		if !t.is(",") {
			return nil, fmt.Errorf("tuple component %d: expected \",\" or \")\", found %s", len(comps)-1, t)
		}
	}
}
