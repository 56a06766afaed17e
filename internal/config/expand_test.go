package config

import (
	"reflect"
	"testing"
)

// env is a lookup over a fixed set of variables.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var testVars = map[string]string{
	"HOST":  "db.local",
	"PORT":  "5432",
	"EMPTY": "",
	"_x9":   "lower",
	"BRACE": "}{",
	"REF":   "${HOST}", // values are not expanded again
}

func unsetMsg(name string) string {
	return "environment variable " + name + " is not set (referenced as ${" + name + "}); set it or write ${" + name + ":-fallback}"
}

func badMsg(ref string) string {
	return "bad variable reference ${" + ref + "}: want ${NAME} or ${NAME:-fallback} with NAME of letters, digits and _"
}

func TestExpandString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		errs []string
	}{
		{name: "no reference", in: "plain text", want: "plain text"},
		{name: "empty", in: "", want: ""},
		{name: "whole value", in: "${HOST}", want: "db.local"},
		{name: "embedded", in: "postgres://${HOST}:${PORT}/db", want: "postgres://db.local:5432/db"},
		{name: "adjacent", in: "${HOST}${PORT}", want: "db.local5432"},
		{name: "lower case and digits", in: "${_x9}", want: "lower"},
		{name: "value with braces kept", in: "[${BRACE}]", want: "[}{]"},
		{name: "value not expanded again", in: "${REF}", want: "${HOST}"},
		{name: "set but empty", in: "a${EMPTY}b", want: "ab"},
		{name: "dollar without brace", in: "$HOST $ $$ {x}", want: "$HOST $ $$ {x}"},

		// Fallbacks.
		{name: "fallback unused", in: "${HOST:-other}", want: "db.local"},
		{name: "fallback when unset", in: "${NOPE:-localhost}", want: "localhost"},
		{name: "fallback when empty", in: "${EMPTY:-dflt}", want: "dflt"},
		{name: "empty fallback", in: "[${NOPE:-}]", want: "[]"},
		{name: "fallback containing :-", in: "${NOPE:-a:-b}", want: "a:-b"},
		{name: "fallback with spaces and dollars", in: "${NOPE:-a b $c}", want: "a b $c"},

		// Literal ${.
		{name: "escaped", in: "$${HOST}", want: "${HOST}"},
		{name: "escaped mid-string", in: "x$${HOST}y", want: "x${HOST}y"},
		{name: "escaped then expanded", in: "$${HOST} ${HOST}", want: "${HOST} db.local"},
		{name: "expanded then escaped", in: "${HOST}$${PORT}", want: "db.local${PORT}"},
		{name: "escaped unset needs no variable", in: "$${NOPE}", want: "${NOPE}"},
		{name: "escaped unterminated", in: "cost: $${", want: "cost: ${"},

		// Problems.
		{name: "unset", in: "${NOPE}", want: "", errs: []string{"p: " + unsetMsg("NOPE")}},
		{name: "unset embedded", in: "a-${NOPE}-b", want: "a--b", errs: []string{"p: " + unsetMsg("NOPE")}},
		{name: "two unset", in: "${A1} ${B2}", want: " ",
			errs: []string{"p: " + unsetMsg("A1"), "p: " + unsetMsg("B2")}},
		{name: "empty name", in: "${}", want: "", errs: []string{"p: " + badMsg("")}},
		{name: "empty name with fallback", in: "${:-x}", want: "", errs: []string{"p: " + badMsg(":-x")}},
		{name: "leading digit", in: "${1BAD}", want: "", errs: []string{"p: " + badMsg("1BAD")}},
		{name: "dash", in: "${MY-VAR}", want: "", errs: []string{"p: " + badMsg("MY-VAR")}},
		{name: "shell default syntax", in: "${HOST-x}", want: "", errs: []string{"p: " + badMsg("HOST-x")}},
		{name: "space", in: "${ HOST }", want: "", errs: []string{"p: " + badMsg(" HOST ")}},
		{name: "non-ASCII", in: "${ÉTÉ}", want: "", errs: []string{"p: " + badMsg("ÉTÉ")}},
		{name: "nested reference", in: "${A ${HOST}", want: "", errs: []string{"p: " + badMsg("A ${HOST")}},
		{name: "bad name then good", in: "${a.b}-${PORT}", want: "-5432", errs: []string{"p: " + badMsg("a.b")}},
		{name: "unterminated", in: "${HOST", want: "${HOST",
			errs: []string{`p: unterminated ${ in "${HOST"; write $${ for a literal ${`}},
		{name: "unterminated after text", in: "pre ${HOST", want: "pre ${HOST",
			errs: []string{`p: unterminated ${ in "pre ${HOST"; write $${ for a literal ${`}},
		// The message quotes what is left after the last expansion.
		{name: "unterminated after expansion", in: "${HOST} ${PORT", want: "db.local ${PORT",
			errs: []string{`p: unterminated ${ in " ${PORT"; write $${ for a literal ${`}},
		{name: "lone opener", in: "${", want: "${",
			errs: []string{`p: unterminated ${ in "${"; write $${ for a literal ${`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps Problems
			got := Expand("p", tt.in, env(testVars), &ps)
			if got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
			wantProblems(t, ps, tt.errs)
		})
	}
}

func TestExpandTree(t *testing.T) {
	in := map[string]any{
		"db": map[string]any{
			"url":  "postgres://${HOST}:${PORT}",
			"port": 5432,
			"tls":  true,
			"none": nil,
		},
		"list": []any{"${PORT}", 7, []any{"${NOPE}"}, map[string]any{"k": "${MISSING}"}},
		"raw":  Raw{"x": "${HOST:-h}", "y": "${UNSET_Y}"},
		"lit":  "$${HOST}",
	}
	var ps Problems
	got := Expand("root", in, env(testVars), &ps)
	want := map[string]any{
		"db": map[string]any{
			"url":  "postgres://db.local:5432",
			"port": 5432,
			"tls":  true,
			"none": nil,
		},
		"list": []any{"5432", 7, []any{""}, map[string]any{"k": ""}},
		"raw":  Raw{"x": "db.local", "y": ""},
		"lit":  "${HOST}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Expand =\n%#v\nwant\n%#v", got, want)
	}
	// Problems come in key order, with full paths.
	wantProblems(t, ps, []string{
		"root.list[2][0]: " + unsetMsg("NOPE"),
		"root.list[3].k: " + unsetMsg("MISSING"),
		"root.raw.y: " + unsetMsg("UNSET_Y"),
	})
	// The input is left alone.
	if in["db"].(map[string]any)["url"] != "postgres://${HOST}:${PORT}" || in["list"].([]any)[0] != "${PORT}" || in["raw"].(Raw)["x"] != "${HOST:-h}" {
		t.Errorf("Expand changed its input: %#v", in)
	}
}

func TestExpandTopLevelPath(t *testing.T) {
	var ps Problems
	Expand("", map[string]any{"a": []any{"${NOPE}"}}, env(nil), &ps)
	wantProblems(t, ps, []string{"a[0]: " + unsetMsg("NOPE")})
	ps = nil
	Expand("", "${NOPE}", env(nil), &ps)
	wantProblems(t, ps, []string{unsetMsg("NOPE")})
}

func TestExpandOtherValues(t *testing.T) {
	for _, v := range []any{nil, 1, 2.5, true, int64(3), uint64(4)} {
		var ps Problems
		if got := Expand("p", v, env(nil), &ps); got != v {
			t.Errorf("Expand(%#v) = %#v", v, got)
		}
		wantProblems(t, ps, nil)
	}
}

func TestExpandLookupNotCalledWithoutReference(t *testing.T) {
	calls := 0
	lookup := func(string) (string, bool) { calls++; return "", false }
	var ps Problems
	Expand("", map[string]any{"a": "plain", "b": "$${X}"}, lookup, &ps)
	if calls != 0 {
		t.Errorf("lookup called %d times", calls)
	}
	wantProblems(t, ps, nil)
}

func TestValidVarName(t *testing.T) {
	tests := map[string]bool{
		"A": true, "_": true, "a_B9": true, "_1": true,
		"": false, "9": false, "1A": false, "A-B": false, "A.B": false, "A B": false, "É": false, "A$": false,
	}
	for name, want := range tests {
		if got := validVarName(name); got != want {
			t.Errorf("validVarName(%q) = %v, want %v", name, got, want)
		}
	}
}
