// Package config decodes feedd's YAML configuration into typed structs whose
// fields declare themselves with struct tags (key, default, doc, bounds), so
// that one declaration drives decoding, validation, defaults and the
// operator's reference. Every problem it reports names the YAML path, the bad
// value and what is allowed.
package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the configuration file's name, when known.
	File string
	// Line is the 1-based line of the offending key in File, 0 when unknown
	// (for example a value that came from the environment).
	Line int
	// Path is the YAML path of the offending value, e.g. "feeds[2].interval";
	// empty for a problem with the document as a whole.
	Path string
	// Env names the environment variable the bad value came from, when it
	// came from one rather than the file.
	Env string
	// Msg says what is wrong: the bad value and what is allowed.
	Msg string
}

// Error formats the problem as "file:line: path: msg", leaving out what is unknown.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Env != "" {
		b.WriteString("$" + p.Env + ": ")
	} else if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is a list of configuration problems; as an error it lists them one
// per line.
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem at path.
func (ps *Problems) Add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Locate fills File and Line of every problem from pos, or Env for values
// that came from the environment (env maps paths to variable names), and
// sorts the problems by line, then path.
func (ps Problems) Locate(file string, pos Positions, env map[string]string) {
	for i := range ps {
		ps[i].File = file
		if name, ok := envOf(env, ps[i].Path); ok {
			ps[i].Env = name
			continue
		}
		if ps[i].Line == 0 {
			ps[i].Line = pos.Line(ps[i].Path)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Line != b.Line {
			if a.Line == 0 || b.Line == 0 {
				return b.Line == 0
			}
			return a.Line < b.Line
		}
		return a.Path < b.Path
	})
}

// Join returns the path of key below path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index returns the path of element i of the list at path.
func Index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// show formats a configuration value for a message.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%v", x)
	}
}

// envOf finds the variable that set path or the list path is an element of.
func envOf(env map[string]string, path string) (string, bool) {
	if name, ok := env[path]; ok {
		return name, true
	}
	if i := strings.IndexByte(path, '['); i > 0 {
		name, ok := env[path[:i]]
		return name, ok
	}
	return "", false
}
