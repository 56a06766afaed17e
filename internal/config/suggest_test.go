package config

import "testing"

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "timeout", "workers", "mode", "interval", "max_age"}
	tests := []struct {
		name       string
		word       string
		candidates []string
		want       string
	}{
		{"exact", "listen", keys, "listen"},
		{"case-insensitive", "LISTEN", keys, "listen"},
		{"case-insensitive candidate", "mode", []string{"Mode"}, "Mode"},
		{"case match wins over closer edit", "Mod", []string{"mode", "mod"}, "mod"},
		{"one deletion", "listn", keys, "listen"},
		{"one insertion", "listten", keys, "listen"},
		{"one substitution", "liston", keys, "listen"},
		{"transposition", "tiemout", keys, "timeout"},
		{"underscore dropped", "maxage", keys, "max_age"},
		{"too far", "xyz", keys, ""},
		{"no candidates", "listen", nil, ""},
		{"empty candidates", "listen", []string{}, ""},

		// The limit is len(word)/3, at least 1 and at most 3.
		{"short word, limit 1", "mdoe", keys, "mode"},
		{"short word, two edits too many", "mxxe", keys, ""},
		{"6 letters, limit 2", "lixtxn", keys, "listen"},
		{"6 letters, 3 edits too many", "lxxtxn", keys, ""},
		{"9 letters, limit 3", "intervxyz", keys, "interval"},
		{"long word, limit capped at 3", "intervalxyzw", keys, ""},
		{"long word, 3 edits", "intervalxyz", keys, "interval"},

		// Ties go to the first candidate.
		{"tie", "bat", []string{"cat", "hat"}, "cat"},
		{"tie reversed", "bat", []string{"hat", "cat"}, "hat"},
		{"closest wins", "hallo", []string{"hxllx", "hello"}, "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Suggest(tt.word, tt.candidates); got != tt.want {
				t.Errorf("Suggest(%q, %q) = %q, want %q", tt.word, tt.candidates, got, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"abc", "abd", 1},
		{"abc", "acb", 1}, // transposition
		{"abcd", "badc", 2},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau (2)
		{"héllo", "hello", 1},
		{"日本語", "日本", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := distance(tt.b, tt.a); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	if got, want := didYouMean("listn", []string{"listen"}), `; did you mean "listen"?`; got != want {
		t.Errorf("didYouMean = %q, want %q", got, want)
	}
	if got := didYouMean("zzzzzz", []string{"listen"}); got != "" {
		t.Errorf("didYouMean = %q, want none", got)
	}
}
