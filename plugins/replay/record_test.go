package replay_test

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins/replay"
)

func TestParseRecordValid(t *testing.T) {
	year3000 := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tests := []struct {
		name string
		line string
		want replay.Record
	}{
		{
			name: "every field",
			line: `{"ts": 1732240000123, "source": "coinbase", "symbol": "ETH-USD", "price": 3012.55, "size": 0.5, "side": "buy"}`,
			want: replay.Record{TS: 1732240000123, Source: "coinbase", Symbol: "ETH-USD", Price: 3012.55, Size: 0.5, Side: feeds.SideBuy},
		},
		{
			name: "required fields only",
			line: `{"ts":1,"symbol":"BTC-USDT","price":0.0001}`,
			want: replay.Record{TS: 1, Symbol: "BTC-USDT", Price: 0.0001},
		},
		{
			name: "sell, zero size",
			line: `{"ts":1763769600509,"source":"kraken","symbol":"BTC-USD","price":97223.0,"size":0,"side":"sell"}`,
			want: replay.Record{TS: 1763769600509, Source: "kraken", Symbol: "BTC-USD", Price: 97223, Side: feeds.SideSell},
		},
		{
			name: "empty side is unknown",
			line: `{"ts":5,"symbol":"A-B","price":1,"side":""}`,
			want: replay.Record{TS: 5, Symbol: "A-B", Price: 1, Side: feeds.SideUnknown},
		},
		{
			name: "null optional fields",
			line: `{"ts":5,"symbol":"A-B","price":1,"source":null,"size":null,"side":null}`,
			want: replay.Record{TS: 5, Symbol: "A-B", Price: 1},
		},
		{
			name: "unknown keys ignored, surrounding space",
			line: " \t{\"ts\":5,\"symbol\":\"ETH2-USD\",\"price\":2e3,\"venue\":\"x\"}\r\n",
			want: replay.Record{TS: 5, Symbol: "ETH2-USD", Price: 2000},
		},
		{
			name: "ts at the year 3000 bound",
			line: `{"ts":` + itoa(year3000) + `,"symbol":"ETH-USD","price":1}`,
			want: replay.Record{TS: year3000, Symbol: "ETH-USD", Price: 1},
		},
		{
			name: "largest finite price",
			line: `{"ts":5,"symbol":"ETH-USD","price":1.7976931348623157e308}`,
			want: replay.Record{TS: 5, Symbol: "ETH-USD", Price: math.MaxFloat64},
		},
		{
			name: "symbol codes of 16 characters",
			line: `{"ts":5,"symbol":"ABCDEFGHIJKLMNOP-0123456789ABCDEF","price":1}`,
			want: replay.Record{TS: 5, Symbol: "ABCDEFGHIJKLMNOP-0123456789ABCDEF", Price: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replay.ParseRecord([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseRecord(%s) error: %v", tt.line, err)
			}
			if got != tt.want {
				t.Fatalf("ParseRecord(%s) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseRecordInvalid(t *testing.T) {
	year3000 := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tests := []struct {
		name string
		line string
		want string
	}{
		{"empty", ``, `decode: unexpected end of JSON input`},
		{"blank", `   `, `decode: unexpected end of JSON input`},
		{"not JSON", `price=2`, `decode: invalid character 'p' looking for beginning of value`},
		{"bare word", `ts=1`, `decode: invalid character 's' in literal true (expecting 'r')`},
		{"truncated", `{"ts":1,"symbol":"ETH-USD"`, `decode: unexpected end of JSON input`},
		{"trailing data", `{"ts":1,"symbol":"ETH-USD","price":1} {}`, `decode: invalid character '{' after top-level value`},
		{"array", `[1,2]`, `decode: json: cannot unmarshal array into Go value of type struct { TS *int64 "json:\"ts\""; Source string "json:\"source\""; Symbol string "json:\"symbol\""; Price *float64 "json:\"price\""; Size float64 "json:\"size\""; Side string "json:\"side\"" }`},
		{"ts a string", `{"ts":"1","symbol":"ETH-USD","price":1}`, `decode: json: cannot unmarshal string into Go struct field .ts of type int64`},
		{"ts fractional", `{"ts":1.5,"symbol":"ETH-USD","price":1}`, `decode: json: cannot unmarshal number 1.5 into Go struct field .ts of type int64`},
		{"ts too large for int64", `{"ts":9223372036854775808,"symbol":"ETH-USD","price":1}`, `decode: json: cannot unmarshal number 9223372036854775808 into Go struct field .ts of type int64`},
		{"price a string", `{"ts":1,"symbol":"ETH-USD","price":"1"}`, `decode: json: cannot unmarshal string into Go struct field .price of type float64`},
		{"price overflows float64", `{"ts":1,"symbol":"ETH-USD","price":1e309}`, `decode: json: cannot unmarshal number 1e309 into Go struct field .price of type float64`},
		{"side a number", `{"ts":1,"symbol":"ETH-USD","price":1,"side":1}`, `decode: json: cannot unmarshal number into Go struct field .side of type string`},
		{"null", `null`, `missing "ts" (Unix milliseconds)`},
		{"empty object", `{}`, `missing "ts" (Unix milliseconds)`},
		{"missing ts", `{"symbol":"ETH-USD","price":1}`, `missing "ts" (Unix milliseconds)`},
		{"null ts", `{"ts":null,"symbol":"ETH-USD","price":1}`, `missing "ts" (Unix milliseconds)`},
		{"zero ts", `{"ts":0,"symbol":"ETH-USD","price":1}`, `"ts" 0 is not Unix milliseconds`},
		{"negative ts", `{"ts":-5,"symbol":"ETH-USD","price":1}`, `"ts" -5 is not Unix milliseconds`},
		{"ts past the year 3000", `{"ts":` + itoa(year3000+1) + `,"symbol":"ETH-USD","price":1}`, `"ts" 32503680000001 is not Unix milliseconds`},
		{"ts in microseconds", `{"ts":1732240000123000,"symbol":"ETH-USD","price":1}`, `"ts" 1732240000123000 is not Unix milliseconds`},
		{"missing price", `{"ts":1,"symbol":"ETH-USD"}`, `missing "price"`},
		{"null price", `{"ts":1,"symbol":"ETH-USD","price":null}`, `missing "price"`},
		{"zero price", `{"ts":1,"symbol":"ETH-USD","price":0}`, `"price" 0: want a positive number`},
		{"negative price", `{"ts":1,"symbol":"ETH-USD","price":-2.5}`, `"price" -2.5: want a positive number`},
		{"negative zero price", `{"ts":1,"symbol":"ETH-USD","price":-0}`, `"price" -0: want a positive number`},
		{"negative size", `{"ts":1,"symbol":"ETH-USD","price":1,"size":-0.5}`, `"size" -0.5: want zero or more`},
		{"missing symbol", `{"ts":1,"price":1}`, `symbol "": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"lower-case symbol", `{"ts":1,"symbol":"eth-usd","price":1}`, `symbol "eth-usd": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"symbol without dash", `{"ts":1,"symbol":"ETHUSD","price":1}`, `symbol "ETHUSD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"symbol with slash", `{"ts":1,"symbol":"ETH/USD","price":1}`, `symbol "ETH/USD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"symbol with two dashes", `{"ts":1,"symbol":"ETH-USD-X","price":1}`, `symbol "ETH-USD-X": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"symbol code too long", `{"ts":1,"symbol":"ABCDEFGHIJKLMNOPQ-USD","price":1}`, `symbol "ABCDEFGHIJKLMNOPQ-USD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"bad side", `{"ts":1,"symbol":"ETH-USD","price":1,"side":"up"}`, `"side" "up": want "buy", "sell" or nothing`},
		{"upper-case side", `{"ts":1,"symbol":"ETH-USD","price":1,"side":"BUY"}`, `"side" "BUY": want "buy", "sell" or nothing`},
		// Checks run in order: ts, price, size, symbol, side.
		{"first problem wins", `{"ts":0,"symbol":"x","price":-1,"side":"up"}`, `"ts" 0 is not Unix milliseconds`},
		{"price before symbol", `{"ts":1,"symbol":"x","price":-1}`, `"price" -1: want a positive number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replay.ParseRecord([]byte(tt.line))
			if err == nil {
				t.Fatalf("ParseRecord(%s) = %+v, want error %q", tt.line, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("ParseRecord(%s) error:\n got %s\nwant %s", tt.line, err, tt.want)
			}
			if got != (replay.Record{}) {
				t.Fatalf("ParseRecord(%s) returned %+v with its error, want the zero Record", tt.line, got)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzParseRecord(f *testing.F) {
	seeds := []string{
		`{"ts": 1732240000123, "source": "coinbase", "symbol": "ETH-USD", "price": 3012.55, "size": 0.5, "side": "buy"}`,
		`{"ts":1,"symbol":"BTC-USD","price":1e-300}`,
		`{"ts":1,"symbol":"BTC-USD","price":1.7976931348623157e308,"size":1e308}`,
		`{"ts":1,"symbol":"BTC-USD","price":-0,"side":"sell"}`,
		`{"TS":1,"SYMBOL":"BTC-USD","Price":1}`,
		`{"ts":32503680000000,"symbol":"A-B","price":1}`,
		`{"ts":1,"symbol":"A-B","price":1,"ts":0}`,
		`{"ts":1,"symbol":"A-B\u0000","price":1}`,
		`{"ts":1e3,"symbol":"A-B","price":1}`,
		`null`,
		`[]`,
		`{`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := replay.ParseRecord(line)
		if err != nil {
			if rec != (replay.Record{}) {
				t.Fatalf("ParseRecord(%q) returned %+v with error %v", line, rec, err)
			}
			return
		}
		if !(rec.Price > 0) || math.IsInf(rec.Price, 0) || math.IsNaN(rec.Price) {
			t.Fatalf("ParseRecord(%q) accepted price %v", line, rec.Price)
		}
		if !(rec.Size >= 0) || math.IsInf(rec.Size, 0) {
			t.Fatalf("ParseRecord(%q) accepted size %v", line, rec.Size)
		}
		if _, _, err := feeds.ParseSymbol(rec.Symbol); err != nil {
			t.Fatalf("ParseRecord(%q) accepted symbol %q: %v", line, rec.Symbol, err)
		}
		if rec.TS <= 0 {
			t.Fatalf("ParseRecord(%q) accepted ts %d", line, rec.TS)
		}
		switch rec.Side {
		case feeds.SideUnknown, feeds.SideBuy, feeds.SideSell:
		default:
			t.Fatalf("ParseRecord(%q) accepted side %q", line, rec.Side)
		}
	})
}
