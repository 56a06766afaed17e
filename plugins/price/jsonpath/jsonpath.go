// Package jsonpath is a small path expression over decoded JSON, for the
// generic price sources (price.http, price.ws) to find a number in an API's
// answer without Go code.
//
// A path is a chain of steps from the document's root:
//
//	data.price                  key "data", then key "price"
//	result.XXBTZUSD.c[0]        keys, then the first element of an array
//	[0].last                    first element of a root array, then key "last"
//	tickers[-1].price           negative indexes count from the end
//	["a.b"].price               a key with dots or odd characters, quoted
//	                            (JSON string syntax; single quotes work too)
//
// A leading "$" (as in JSONPath) is allowed and means the root. Bare keys
// hold any characters but '.', '[', ']', quotes and white space.
package jsonpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// step is one key or one index.
type step struct {
	key     string
	index   int
	isIndex bool
}

// Path is a parsed path expression. The zero Path is the root.
type Path struct {
	src   string
	steps []step
}

// Parse parses a path expression. Its errors name the offending part and its
// byte offset.
func Parse(expr string) (Path, error) {
	p := Path{src: expr}
	if strings.TrimSpace(expr) == "" {
		return p, errors.New("empty path: want keys and indexes such as data.price or result.c[0]")
	}
	i := 0
	if expr == "$" || strings.HasPrefix(expr, "$.") || strings.HasPrefix(expr, "$[") {
		i = 1 // the root marker
	}
	first := true
	for i < len(expr) {
		switch c := expr[i]; {
		case c == '[':
			s, n, err := parseBracket(expr, i)
			if err != nil {
				return Path{}, err
			}
			p.steps = append(p.steps, s)
			i = n
		case c == '.':
			if first {
				if i == 0 {
					return Path{}, perr(expr, i, "path starts with '.'; write the first key bare (data.price)")
				}
				// "$.data": the dot after the root marker.
			}
			i++
			if i >= len(expr) {
				return Path{}, perr(expr, i, "path ends with '.': a key must follow")
			}
			if expr[i] == '[' {
				// "a.[0]" and "$.[0]" are not allowed: write a[0].
				if !(first && i == 2) {
					return Path{}, perr(expr, i, "'.' followed by '[': write a[0] or a[\"key\"]")
				}
				continue
			}
			key, n, err := parseBare(expr, i)
			if err != nil {
				return Path{}, err
			}
			p.steps = append(p.steps, step{key: key})
			i = n
		default:
			if !first {
				return Path{}, perr(expr, i, "unexpected %q: want '.' or '[' between steps", rune(c))
			}
			key, n, err := parseBare(expr, i)
			if err != nil {
				return Path{}, err
			}
			p.steps = append(p.steps, step{key: key})
			i = n
		}
		first = false
	}
	if len(p.steps) == 0 {
		return Path{}, perr(expr, len(expr), "path %q names no key or index", expr)
	}
	return p, nil
}

// MustParse is Parse that panics on error, for paths fixed in code.
func MustParse(expr string) Path {
	p, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return p
}

func perr(expr string, at int, format string, args ...any) error {
	return fmt.Errorf("path %q at offset %d: %s", expr, at, fmt.Sprintf(format, args...))
}

func bareByte(c byte) bool {
	return c != '.' && c != '[' && c != ']' && c != '"' && c != '\'' && c != ' ' && c != '\t' && c != '\n' && c != '\r'
}

// parseBare reads a bare key starting at i.
func parseBare(expr string, i int) (string, int, error) {
	j := i
	for j < len(expr) && bareByte(expr[j]) {
		j++
	}
	if j == i {
		switch {
		case expr[i] == '.':
			return "", 0, perr(expr, i, "empty key between dots")
		case expr[i] == ']':
			return "", 0, perr(expr, i, "unexpected ']' without '['")
		case expr[i] == '"' || expr[i] == '\'':
			return "", 0, perr(expr, i, "quoted keys go in brackets: [%s...%s]", expr[i:i+1], expr[i:i+1])
		default:
			return "", 0, perr(expr, i, "unexpected %q in a key; quote such keys as [\"...\"]", rune(expr[i]))
		}
	}
	key := expr[i:j]
	if !utf8.ValidString(key) {
		return "", 0, perr(expr, i, "key is not valid UTF-8")
	}
	return key, j, nil
}

// parseBracket reads [n], ["key"] or ['key'] starting at the '[' at i.
func parseBracket(expr string, i int) (step, int, error) {
	j := i + 1
	if j >= len(expr) {
		return step{}, 0, perr(expr, i, "unclosed '['")
	}
	switch q := expr[j]; q {
	case '"', '\'':
		k := j + 1
		for k < len(expr) && expr[k] != q {
			if expr[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(expr) {
			return step{}, 0, perr(expr, j, "unterminated quoted key")
		}
		lit := expr[j : k+1]
		var key string
		if q == '\'' {
			lit = `"` + strings.ReplaceAll(strings.ReplaceAll(lit[1:len(lit)-1], `\'`, `'`), `"`, `\"`) + `"`
		}
		if err := json.Unmarshal([]byte(lit), &key); err != nil {
			return step{}, 0, perr(expr, j, "bad quoted key %s: want a JSON string such as [\"a.b\"]", expr[j:k+1])
		}
		if k+1 >= len(expr) || expr[k+1] != ']' {
			return step{}, 0, perr(expr, k+1, "want ']' after the quoted key")
		}
		return step{key: key}, k + 2, nil
	default:
		end := strings.IndexByte(expr[j:], ']')
		if end < 0 {
			return step{}, 0, perr(expr, i, "unclosed '['")
		}
		lit := expr[j : j+end]
		n, err := strconv.Atoi(lit)
		if err != nil || lit != strconv.Itoa(n) && lit != "-0" {
			return step{}, 0, perr(expr, j, "bad index %q: want an integer such as [0] or [-1], or a quoted key such as [\"%s\"]", lit, lit)
		}
		return step{index: n, isIndex: true}, j + end + 1, nil
	}
}

// String returns the expression the path was parsed from.
func (p Path) String() string { return p.src }

// prefix writes steps[:n] for error messages.
func (p Path) prefix(n int) string {
	if n == 0 {
		return "the root"
	}
	var b strings.Builder
	for i, s := range p.steps[:n] {
		switch {
		case s.isIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case plainKey(s.key):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			k, _ := json.Marshal(s.key)
			fmt.Fprintf(&b, "[%s]", k)
		}
	}
	return b.String()
}

func plainKey(k string) bool {
	if k == "" || k == "$" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !bareByte(k[i]) {
			return false
		}
	}
	return true
}

// Eval returns the value at the path in doc, a document decoded by
// encoding/json into any (objects as map[string]any, arrays as []any). Its
// errors name the step that is missing and where.
func (p Path) Eval(doc any) (any, error) {
	cur := doc
	for i, s := range p.steps {
		switch v := cur.(type) {
		case map[string]any:
			if s.isIndex {
				return nil, fmt.Errorf("%s: want an array for index [%d] at %s, got an object", p.src, s.index, p.prefix(i))
			}
			next, ok := v[s.key]
			if !ok {
				return nil, fmt.Errorf("%s: key %q not found at %s%s", p.src, s.key, p.prefix(i), keysHint(v))
			}
			cur = next
		case []any:
			if !s.isIndex {
				return nil, fmt.Errorf("%s: want an object for key %q at %s, got an array of %d", p.src, s.key, p.prefix(i), len(v))
			}
			n := s.index
			if n < 0 {
				n += len(v)
			}
			if n < 0 || n >= len(v) {
				return nil, fmt.Errorf("%s: index [%d] out of range at %s (length %d)", p.src, s.index, p.prefix(i), len(v))
			}
			cur = v[n]
		default:
			what := fmt.Sprintf("key %q", s.key)
			if s.isIndex {
				what = fmt.Sprintf("index [%d]", s.index)
			}
			return nil, fmt.Errorf("%s: cannot take %s of %s at %s", p.src, what, kind(cur), p.prefix(i))
		}
	}
	return cur, nil
}

// keysHint lists a few keys of an object, to help fix a path.
func keysHint(m map[string]any) string {
	if len(m) == 0 {
		return " (the object is empty)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 8 {
		keys = append(keys[:8], "...")
	}
	return " (has " + strings.Join(keys, ", ") + ")"
}

func kind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("a %T", x)
	}
}

// Number returns the number at the path: a JSON number, or a string holding
// a decimal number (as many exchanges send prices, "64000.10"). It refuses
// other values and numbers that are not finite.
func (p Path) Number(doc any) (float64, error) {
	v, err := p.Eval(doc)
	if err != nil {
		return 0, err
	}
	f, err := ToNumber(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.src, err)
	}
	return f, nil
}

// ToNumber converts a decoded JSON value to a finite float64: a JSON number
// (json.Number or float64) or a numeric string.
func ToNumber(v any) (float64, error) {
	var (
		f   float64
		err error
	)
	switch x := v.(type) {
	case json.Number:
		f, err = strconv.ParseFloat(string(x), 64)
	case float64:
		f = x
	case string:
		s := strings.TrimSpace(x)
		if s == "" || !numeric(s) {
			return 0, fmt.Errorf("want a number, got the string %q", truncate(x))
		}
		f, err = strconv.ParseFloat(s, 64)
	default:
		return 0, fmt.Errorf("want a number or a numeric string, got %s", kind(v))
	}
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("want a finite number, got %v", v)
	}
	return f, nil
}

// numeric reports whether s looks like a decimal number (no "NaN", "Inf",
// hex or underscores, which strconv would accept).
func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Decode decodes one JSON document, keeping numbers as json.Number so that
// no precision is lost before a path picks one. Trailing data is an error.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("bad JSON: data after the document")
	}
	return v, nil
}
