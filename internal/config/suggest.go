package config

import "strings"

// Suggest returns the candidate closest to word when it is close enough to be
// a likely typo (case-insensitive match, or an edit distance within a third of
// the word's length, at least 1 and at most 3), else "".
func Suggest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	lw := strings.ToLower(word)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == lw {
			return c
		}
		d := distance(lw, lc)
		if d < bestD {
			best, bestD = c, d
		}
	}
	n := len([]rune(word))
	limit := max(1, min(3, n/3))
	if bestD <= limit && bestD < n { // a one-letter word matches nothing by being replaced
		return best
	}
	return ""
}

// distance is the Damerau (optimal string alignment) edit distance.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// didYouMean returns ` (did you mean "x"?)` when a suggestion exists.
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return `; did you mean "` + s + `"?`
	}
	return ""
}
