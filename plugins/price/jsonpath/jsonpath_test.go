package jsonpath_test

import (
	"strings"
	"testing"

	"github.com/feedd/feedd/plugins/price/jsonpath"
)

const (
	coinbase = `{"data":{"amount":"3012.55","base":"ETH","currency":"USD"}}`
	kraken   = `{"error":[],"result":{"XXBTZUSD":{"a":["64000.2","1","1.000"],"c":["64000.1","0.01"],"v":["100.5","2000.25"]}}}`
	binance  = `{"symbol":"BTCUSDT","price":"64000.10"}`
	bitstamp = `[{"pair":"BTC/USD","last":64001.5,"ts":1732269600},{"pair":"ETH/USD","last":3012}]`
	odd      = `{"a.b":{"we\"ird key":[1,[2,"3e2"]]},"$":7,"$x":8,"n":null,"t":true,"s":"abc","big":1e400,"nan":"NaN","sp":" 12.5 "}`
)

func doc(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonpath.Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		doc, path string
		want      float64
	}{
		{coinbase, "data.amount", 3012.55},
		{coinbase, "$.data.amount", 3012.55},
		{coinbase, `$["data"]['amount']`, 3012.55},
		{kraken, "result.XXBTZUSD.c[0]", 64000.1},
		{kraken, "result.XXBTZUSD.c[1]", 0.01},
		{kraken, "result.XXBTZUSD.c[-1]", 0.01},
		{kraken, "result.XXBTZUSD.v[1]", 2000.25},
		{binance, "price", 64000.10},
		{bitstamp, "[0].last", 64001.5},
		{bitstamp, "$[1].last", 3012},
		{bitstamp, "[-1].last", 3012},
		{bitstamp, "[0].ts", 1732269600},
		{odd, `["a.b"]["we\"ird key"][0]`, 1},
		{odd, `['a.b']['we"ird key'][1][0]`, 2},
		{odd, `["a.b"]["we\"ird key"][1][1]`, 300},
		{odd, `["$"]`, 7},
		{odd, `$x`, 8},
		{odd, `sp`, 12.5},
	} {
		p, err := jsonpath.Parse(tc.path)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.path, err)
			continue
		}
		got, err := p.Number(doc(t, tc.doc))
		if err != nil || got != tc.want {
			t.Errorf("%s in %s = %v, %v; want %v", tc.path, tc.doc, got, err, tc.want)
		}
		if p.String() != tc.path {
			t.Errorf("String() = %q, want %q", p.String(), tc.path)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"", "empty path"},
		{"  ", "empty path"},
		{"$", "names no key"},
		{".data", "offset 0: path starts with '.'"},
		{"data.", "offset 5: path ends with '.'"},
		{"data..price", "offset 5: empty key between dots"},
		{"data[0", "offset 4: unclosed '['"},
		{"data[", "offset 4: unclosed '['"},
		{"data[x]", `offset 5: bad index "x"`},
		{"data[01]", `bad index "01"`},
		{"data[ 1]", `bad index " 1"`},
		{"data[]", `bad index ""`},
		{`data["price]`, "offset 5: unterminated quoted key"},
		{`data["price"`, "offset 12: want ']' after the quoted key"},
		{`data["a\q"]`, `bad quoted key "a\q"`},
		{"data.[0]", "'.' followed by '['"},
		{"data price", `offset 4: unexpected ' '`},
		{"data]", `unexpected ']'`},
		{`data."x"`, "quoted keys go in brackets"},
		{"a[0]b", `offset 4: unexpected 'b'`},
	} {
		_, err := jsonpath.Parse(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.path, err, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	for _, tc := range []struct{ doc, path, want string }{
		{coinbase, "data.price", `key "price" not found at data (has amount, base, currency)`},
		{coinbase, "dat.amount", `key "dat" not found at the root (has data)`},
		{kraken, "result.XXBTZUSD.c[2]", "index [2] out of range at result.XXBTZUSD.c (length 2)"},
		{kraken, "result.XXBTZUSD.c[-3]", "index [-3] out of range"},
		{kraken, "result.XXBTZUSD[0]", "want an array for index [0] at result.XXBTZUSD, got an object"},
		{kraken, "error.x", `want an object for key "x" at error, got an array of 0`},
		{kraken, "result.XXBTZUSD.c", "want a number or a numeric string, got an array"},
		{kraken, "result.XXBTZUSD.c[0].x", `cannot take key "x" of a string at result.XXBTZUSD.c[0]`},
		{binance, "symbol", `want a number, got the string "BTCUSDT"`},
		{odd, "n", "got null"},
		{odd, "t", "got a boolean"},
		{odd, "big", "want a finite number"},
		{odd, "nan", `want a number, got the string "NaN"`},
		{odd, `["a.b"].x`, `key "x" not found at ["a.b"]`},
		{`{}`, "x", "(the object is empty)"},
	} {
		_, err := jsonpath.MustParse(tc.path).Number(doc(t, tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s in %s: error %v, want one containing %q", tc.path, tc.doc, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), tc.path+": ") {
			t.Errorf("%s: error %q does not start with the path", tc.path, err)
		}
	}
}

func TestEvalRaw(t *testing.T) {
	v, err := jsonpath.MustParse("data.base").Eval(doc(t, coinbase))
	if err != nil || v != "ETH" {
		t.Fatalf("Eval = %v, %v; want ETH", v, err)
	}
}

func TestDecode(t *testing.T) {
	for _, bad := range []string{"", "{", `{"a":1} {"b":2}`, `{"a":1}x`, "<html>"} {
		if _, err := jsonpath.Decode([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "bad JSON") {
			t.Errorf("Decode(%q) = %v, want a bad JSON error", bad, err)
		}
	}
	// Precision survives: the number stays as written until asked for.
	v := doc(t, `{"p": 12345678901234567890.5}`)
	if got, err := jsonpath.MustParse("p").Number(v); err != nil || got != 12345678901234567890.5 {
		t.Fatalf("Number = %v, %v", got, err)
	}
	if _, err := jsonpath.Decode([]byte("{\"a\":1}\n  \n")); err != nil {
		t.Fatalf("trailing white space: %v", err)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of a bad path did not panic")
		}
	}()
	jsonpath.MustParse("a..b")
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"data.price", "result.XXBTZUSD.c[0]", "[0].last", `["a.b"]`, `$['x\'y'][-1]`, "a[", `["\u00e9"]`, "$", "$.[0]"} {
		f.Add(s, kraken)
		f.Add(s, odd)
	}
	f.Fuzz(func(t *testing.T, expr, js string) {
		p, err := jsonpath.Parse(expr)
		if err != nil {
			if !strings.Contains(err.Error(), "path") {
				t.Fatalf("Parse(%q) error %q does not say path", expr, err)
			}
			return
		}
		if p.String() != expr {
			t.Fatalf("String() = %q, want %q", p.String(), expr)
		}
		v, err := jsonpath.Decode([]byte(js))
		if err != nil {
			return
		}
		if _, err := p.Eval(v); err != nil && !strings.HasPrefix(err.Error(), expr+": ") {
			t.Fatalf("Eval error %q does not start with the path", err)
		}
		_, _ = p.Number(v)
	})
}
