package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Positions maps YAML paths ("feeds[0].interval") to the line where they
// stand in a file, so problems can name the line.
type Positions map[string]int

// PositionsOf indexes the YAML document in data; it returns an empty index
// when data does not parse (the loader reports that error itself).
func PositionsOf(data []byte) Positions {
	pos, _ := indexYAML(data)
	return pos
}

// indexYAML walks the YAML document in data once, locating every key and
// reporting keys of one mapping that differ only in letter case: keys are
// case-insensitive, and viper would keep one of them at random.
func indexYAML(data []byte) (Positions, Problems) {
	pos := Positions{}
	var ps Problems
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return pos, nil
	}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			seen := map[string]string{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				lk := strings.ToLower(k.Value)
				p := Join(path, lk)
				if first, dup := seen[lk]; dup && first != k.Value {
					ps = append(ps, Problem{Line: k.Line, Path: p,
						Msg: fmt.Sprintf("key %q repeats %q: keys are case-insensitive; keep one", k.Value, first)})
				} else if !dup {
					seen[lk] = k.Value
					pos[p] = k.Line
				}
				walk(p, v)
			}
		case yaml.SequenceNode:
			for i, e := range n.Content {
				p := Index(path, i)
				pos[p] = e.Line
				walk(p, e)
			}
		case yaml.AliasNode:
			if n.Alias != nil {
				walk(path, n.Alias)
			}
		}
	}
	walk("", doc.Content[0])
	return pos, ps
}

// Line returns the line of path, or of its nearest ancestor that is in the
// file, or 0.
func (p Positions) Line(path string) int {
	for path != "" {
		if l, ok := p[strings.ToLower(path)]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}
