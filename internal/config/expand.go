package config

import (
	"maps"
	"slices"
	"strings"
)

// Expand replaces ${NAME} in every string value below v with the value of
// the variable NAME from lookup, and ${NAME:-fallback} with fallback when NAME
// is unset or empty. "$${" stands for a literal "${". A reference to an unset
// variable without a fallback is a problem naming the path and the variable.
// It returns a copy; v is not changed.
func Expand(path string, v any, lookup func(string) (string, bool), ps *Problems) any {
	switch x := v.(type) {
	case string:
		return expandString(path, x, lookup, ps)
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out[k] = Expand(Join(path, k), x[k], lookup, ps)
		}
		return out
	case Raw:
		return Raw(Expand(path, map[string]any(x), lookup, ps).(map[string]any))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Expand(Index(path, i), e, lookup, ps)
		}
		return out
	}
	return v
}

func expandString(path, s string, lookup func(string) (string, bool), ps *Problems) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			ps.Add(path, "unterminated ${ in %q; write $${ for a literal ${", s)
			b.WriteString(s[i:])
			return b.String()
		}
		ref := s[i+2 : i+end]
		name, fallback, hasFallback := strings.Cut(ref, ":-")
		switch val, ok := lookup(name); {
		case !validVarName(name):
			ps.Add(path, "bad variable reference ${%s}: want ${NAME} or ${NAME:-fallback} with NAME of letters, digits and _", ref)
		case ok && (val != "" || !hasFallback):
			b.WriteString(val)
		case hasFallback:
			b.WriteString(fallback)
		default:
			ps.Add(path, "environment variable %s is not set (referenced as ${%s}); set it or write ${%s:-fallback}", name, ref, name)
		}
		s = s[i+end+1:]
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}
