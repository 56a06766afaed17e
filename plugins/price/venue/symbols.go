package venue

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
)

// Symbols maps the configured BASE-QUOTE symbols to the venue's names and
// back.
type Symbols struct {
	order     []string          // venue names, in configuration order
	fromVenue map[string]string // venue name -> BASE-QUOTE
	toVenue   map[string]string // BASE-QUOTE -> venue name
}

// ValidateSymbols checks the symbols and symbol_map keys of an adapter's
// configuration: every symbol BASE-QUOTE and listed once, every symbol_map
// value one of the symbols and named by one venue name only.
func ValidateSymbols(v *config.Validation, symbols []string, symbolMap map[string]string) {
	seen := map[string]bool{}
	for i, s := range symbols {
		key := fmt.Sprintf("symbols[%d]", i)
		if _, _, err := feeds.ParseSymbol(s); err != nil {
			v.Errorf(key, "%v", err)
			continue
		}
		if seen[s] {
			v.Errorf(key, "%s is listed twice", s)
		}
		seen[s] = true
	}
	mapped := map[string]string{}
	names := make([]string, 0, len(symbolMap))
	for name := range symbolMap {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sym := symbolMap[name]
		key := "symbol_map." + name
		switch {
		case name == "":
			v.Errorf("symbol_map", "empty venue symbol name")
		case !slices.Contains(symbols, sym):
			if _, _, err := feeds.ParseSymbol(sym); err != nil {
				v.Errorf(key, "%v", err)
			} else {
				v.Errorf(key, "%s is not one of symbols; add it there", sym)
			}
		case mapped[sym] != "":
			v.Errorf(key, "%s is already the venue's %s; map each symbol once", sym, mapped[sym])
		default:
			mapped[sym] = name
		}
	}
}

// NewSymbols maps each symbol to its venue name: the symbol_map key whose
// value it is, else name(base, quote). The input is assumed validated.
func NewSymbols(symbols []string, symbolMap map[string]string, name func(base, quote string) string) *Symbols {
	s := &Symbols{fromVenue: map[string]string{}, toVenue: map[string]string{}}
	for vn, sym := range symbolMap {
		s.toVenue[sym] = vn
	}
	for _, sym := range symbols {
		vn, ok := s.toVenue[sym]
		if !ok {
			base, quote, err := feeds.ParseSymbol(sym)
			if err != nil {
				continue
			}
			vn = name(base, quote)
			s.toVenue[sym] = vn
		}
		s.fromVenue[vn] = sym
		s.order = append(s.order, vn)
	}
	return s
}

// VenueNames returns the venue's names of the symbols, in configuration order.
func (s *Symbols) VenueNames() []string { return slices.Clone(s.order) }

// Symbol returns the BASE-QUOTE symbol of a venue name.
func (s *Symbols) Symbol(venueName string) (string, bool) {
	sym, ok := s.fromVenue[venueName]
	return sym, ok
}

// Venue returns the venue's name of a BASE-QUOTE symbol.
func (s *Symbols) Venue(symbol string) (string, bool) {
	vn, ok := s.toVenue[symbol]
	return vn, ok
}

// Price parses a decimal price or size string, requiring a finite number
// above zero (or zero or more, with zeroOK).
func Price(s string, zeroOK bool) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return Check(x, zeroOK)
}

// Check requires a finite number above zero (or zero or more, with zeroOK).
func Check(x float64, zeroOK bool) (float64, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x == 0 && !zeroOK {
		return 0, fmt.Errorf("%v is out of range", x)
	}
	return x, nil
}
