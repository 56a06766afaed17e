package config

import (
	"errors"
	"reflect"
	"testing"
)

const positionsYAML = `# comment
Server:
  listen: ":1"
  limits: {a: 1, b: 2}
feeds:
  - id: one
    sources:
      - x
      - y
  -
    id: two
base: &base
  k: v
copy: *base
attrs:
  service.name: s
empty:
`

func TestPositionsOf(t *testing.T) {
	pos := PositionsOf([]byte(positionsYAML))
	want := Positions{
		"server": 2, "server.listen": 3, "server.limits": 4, "server.limits.a": 4, "server.limits.b": 4,
		"feeds": 5, "feeds[0]": 6, "feeds[0].id": 6, "feeds[0].sources": 7,
		"feeds[0].sources[0]": 8, "feeds[0].sources[1]": 9,
		"feeds[1]": 11, "feeds[1].id": 11,
		"base": 12, "base.k": 13,
		// An alias is indexed where its anchor stands.
		"copy": 14, "copy.k": 13,
		"attrs": 15, "attrs.service.name": 16,
		"empty": 17,
	}
	if !reflect.DeepEqual(pos, want) {
		t.Errorf("PositionsOf =\n%v\nwant\n%v", pos, want)
	}
}

func TestPositionsOfUnparsable(t *testing.T) {
	for _, data := range []string{"", "a: [", "\t- x: y\n  :", "# nothing"} {
		pos := PositionsOf([]byte(data))
		if pos == nil || len(pos) != 0 {
			t.Errorf("PositionsOf(%q) = %#v, want an empty index", data, pos)
		}
	}
}

func TestPositionsOfTopLevelList(t *testing.T) {
	pos := PositionsOf([]byte("- a: 1\n- b\n"))
	want := Positions{"[0]": 1, "[0].a": 1, "[1]": 2}
	if !reflect.DeepEqual(pos, want) {
		t.Errorf("PositionsOf = %v, want %v", pos, want)
	}
}

func TestPositionsLine(t *testing.T) {
	pos := PositionsOf([]byte(positionsYAML))
	tests := []struct {
		path string
		want int
	}{
		{"server.listen", 3},
		{"Server.Listen", 3},              // case-insensitive
		{"server.timeout", 2},             // absent: its section
		{"server.limits.c", 4},            // absent: nearest ancestor
		{"feeds[0].sources[1]", 9},        // exact
		{"feeds[0].sources[5]", 7},        // absent index: the list
		{"feeds[1].interval", 11},         // absent key in a list element
		{"feeds[7].id", 5},                // absent element: the list
		{"attrs.service.name", 16},        // dotted key kept whole
		{"attrs.service.version", 15},     // "attrs.service" is not in the file either
		{"nowhere", 0},                    // unknown top-level key
		{"nowhere.at.all", 0},             // unknown section
		{"", 0},                           // the document
		{"[0]", 0},                        // no top-level list
		{"copy.k", 13},                    // through the alias
		{"empty.x", 17},                   // below a null value
		{"feeds[0].sources[0].deeper", 8}, // below a scalar
	}
	for _, tt := range tests {
		if got := pos.Line(tt.path); got != tt.want {
			t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := Positions(nil).Line("a"); got != 0 {
		t.Errorf("nil Positions Line = %d", got)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Msg: "m"}, "m"},
		{Problem{Path: "a.b", Msg: "m"}, "a.b: m"},
		{Problem{File: "f.yaml", Msg: "m"}, "f.yaml: m"},
		{Problem{File: "f.yaml", Line: 3, Msg: "m"}, "f.yaml:3: m"},
		{Problem{File: "f.yaml", Line: 3, Path: "a[0]", Msg: "m"}, "f.yaml:3: a[0]: m"},
		{Problem{Line: 3, Path: "a", Msg: "m"}, "a: m"}, // a line without a file is not shown
		{Problem{File: "f.yaml", Line: 3, Path: "a", Env: "FEEDD_A", Msg: "m"}, "$FEEDD_A: a: m"},
		{Problem{Env: "FEEDD_A", Msg: "m"}, "$FEEDD_A: m"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestProblems(t *testing.T) {
	var ps Problems
	if ps.Err() != nil {
		t.Errorf("empty Problems.Err() = %v, want nil", ps.Err())
	}
	if ps.Error() != "" {
		t.Errorf("empty Problems.Error() = %q", ps.Error())
	}
	ps.Add("a", "bad %s %d", "x", 1)
	ps.Add("", "whole")
	if ps[0] != (Problem{Path: "a", Msg: "bad x 1"}) || ps[1] != (Problem{Msg: "whole"}) {
		t.Errorf("Add recorded %+v", ps)
	}
	err := ps.Err()
	if err == nil || err.Error() != "a: bad x 1\nwhole" {
		t.Fatalf("Err() = %v", err)
	}
	var back Problems
	if !errors.As(err, &back) || len(back) != 2 {
		t.Errorf("errors.As(Problems) = %v", back)
	}
	// A literal % in a value does not break formatting through Add("%s").
	ps = nil
	ps.Add("p", "%s", "100%d")
	if ps[0].Msg != "100%d" {
		t.Errorf("Msg = %q", ps[0].Msg)
	}
}

func TestProblemsLocate(t *testing.T) {
	pos := Positions{"a": 1, "b": 2, "b.c": 3, "d": 4}
	ps := Problems{
		{Path: "x", Msg: "unlocated x"},
		{Path: "d", Msg: "line 4"},
		{Path: "b.z", Msg: "line 2 via b"},
		{Path: "b.c", Msg: "line 3"},
		{Path: "a", Msg: "line 1"},
		{Path: "b", Msg: "line 2"},
		{Path: "", Msg: "document"},
		{Path: "e", Msg: "from env"},
		{Path: "d", Line: 9, Msg: "kept line 9"},
		{Path: "a", Msg: "line 1 again"},
	}
	ps.Locate("f.yaml", pos, map[string]string{"e": "FEEDD_E", "d.sub": "FEEDD_D_SUB"})
	wantProblems(t, ps, []string{
		"f.yaml:1: a: line 1",
		"f.yaml:1: a: line 1 again", // stable for equal line and path
		"f.yaml:2: b: line 2",
		"f.yaml:2: b.z: line 2 via b", // same line: by path
		"f.yaml:3: b.c: line 3",
		"f.yaml:4: d: line 4",
		"f.yaml:9: d: kept line 9",
		"f.yaml: document", // no line: last, by path
		"$FEEDD_E: e: from env",
		"f.yaml: x: unlocated x",
	})
	for _, p := range ps {
		if p.File != "f.yaml" {
			t.Errorf("%+v: File not set", p)
		}
	}
	// Locating again changes nothing.
	before := append(Problems(nil), ps...)
	ps.Locate("f.yaml", pos, nil)
	if !reflect.DeepEqual(ps, before) {
		t.Errorf("second Locate changed\n%v\nto\n%v", before, ps)
	}
}

func TestJoinIndex(t *testing.T) {
	tests := []struct{ got, want string }{
		{Join("", "a"), "a"},
		{Join("a", "b"), "a.b"},
		{Join("a[0]", "b"), "a[0].b"},
		{Join("a", "service.name"), "a.service.name"},
		{Index("a", 0), "a[0]"},
		{Index("a.b", 12), "a.b[12]"},
		{Index("a[1]", 2), "a[1][2]"},
		{Index("", 3), "[3]"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestShow(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, "null"},
		{"s", `"s"`},
		{`q"uote`, `"q\"uote"`},
		{map[string]any{"a": 1}, "a mapping"},
		{[]any{1}, "a list"},
		{3, "3"},
		{2.5, "2.5"},
		{true, "true"},
	}
	for _, tt := range tests {
		if got := show(tt.v); got != tt.want {
			t.Errorf("show(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
