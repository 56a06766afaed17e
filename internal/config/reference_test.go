package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFieldsOf(t *testing.T) {
	fields := FieldsOf(&appConf{})
	if got := Keys(fields); !slices.Equal(got, []string{"server", "outer", "items", "tags", "feeds", "primary", "labels", "limits", "windows", "extra"}) {
		t.Fatalf("Keys = %q", got)
	}
	// A value and a pointer describe the same.
	if !reflect.DeepEqual(FieldsOf(appConf{}), fields) {
		t.Error("FieldsOf(value) differs from FieldsOf(pointer)")
	}
	pp := &appConf{}
	if !reflect.DeepEqual(FieldsOf(&pp), fields) {
		t.Error("FieldsOf(**T) differs from FieldsOf(*T)")
	}

	types := map[string]string{}
	for _, f := range fields {
		types[f.Key] = f.Type
	}
	wantTypes := map[string]string{
		"server": "object", "outer": "object", "items": "list of object", "tags": "list of string",
		"feeds": "list of string", "primary": "string", "labels": "map of string", "limits": "map of int",
		"windows": "list of duration", "extra": "object",
	}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("types = %v, want %v", types, wantTypes)
	}

	server := fields[0]
	if server.Doc != "the HTTP server" || len(server.Fields) != 7 {
		t.Fatalf("server = %+v", server)
	}
	timeout := server.Fields[1]
	want := Field{Key: "timeout", Type: "duration", Default: "10s", Doc: "request timeout", Min: "1ms", Max: "1m"}
	if !sameField(timeout, want) {
		t.Errorf("timeout = %+v, want %+v", timeout, want)
	}
	mode := server.Fields[3]
	if !slices.Equal(mode.Enum, []string{"fast", "safe", "debug"}) || mode.Default != "fast" {
		t.Errorf("mode = %+v", mode)
	}
	name := server.Fields[6]
	if !name.Required || name.Doc != "instance name" || name.Type != "string" {
		t.Errorf("name = %+v", name)
	}
	if feeds := fields[4]; feeds.Ref != "feed" {
		t.Errorf("feeds = %+v", feeds)
	}
	if items := fields[2]; !slices.Equal(Keys(items.Fields), []string{"name", "weight", "every"}) {
		t.Errorf("items fields = %q", Keys(items.Fields))
	}
	if outer := fields[1]; len(outer.Fields) != 2 || !slices.Equal(Keys(outer.Fields[0].Fields), []string{"level"}) {
		t.Errorf("outer = %+v", outer)
	}
	// Raw and duration have no sub-fields; maps and scalar lists neither.
	for _, i := range []int{3, 6, 8, 9} {
		if fields[i].Fields != nil {
			t.Errorf("%s has fields %+v", fields[i].Key, fields[i].Fields)
		}
	}
}

func sameField(a, b Field) bool {
	a.index, a.rtype, b.index, b.rtype = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func TestFieldsOfTags(t *testing.T) {
	type conf struct {
		A       string `yaml:"a,omitempty"`
		B       string `yaml:"-"`
		C       string
		d       string `yaml:"d"` //nolint:unused // unexported: not configuration
		E       int64  `yaml:"e"`
		F       uint   `yaml:"f"`
		G       float32
		H       float32    `yaml:"h"`
		I       bool       `yaml:"i" required:"false"`
		J       []Raw      `yaml:"j"`
		K       complex64  `yaml:"k"`
		L       [][]string `yaml:"l"`
		Ignored *int
	}
	fields := FieldsOf(conf{})
	got := map[string]string{}
	for _, f := range fields {
		got[f.Key] = f.Type
		if f.Required {
			t.Errorf("%s required", f.Key)
		}
	}
	want := map[string]string{"a": "string", "e": "int", "f": "int", "h": "float", "i": "bool", "j": "list of object", "k": "complex64", "l": "list of list of string"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

func TestFieldsOfPanics(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"not a struct", 5, "config: int is not a struct"},
		{"pointer to a map", &map[string]any{}, "config: map[string]interface {} is not a struct"},
		{"bad default", badDefault{}, `config: default of config.badDefault.D: want a duration such as "500ms", "10s" or "1m30s", got "10"`},
		{"bad nested default", struct {
			X struct {
				N int `yaml:"n" default:"many"`
			} `yaml:"x"`
		}{}, `config: default of struct { N int "yaml:\"n\" default:\"many\"" }.N: want a whole number, got "many"`},
		{"bad enum-less bool default", struct {
			B bool `yaml:"b" default:"yes"`
		}{}, `config: default of struct { B bool "yaml:\"b\" default:\"yes\"" }.B: want true or false, got "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustPanic(t, func() { FieldsOf(tt.v) }); got != tt.want {
				t.Errorf("panic %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLeaves(t *testing.T) {
	got := Leaves(FieldsOf(&appConf{}), ".")
	want := []string{
		"server.listen", "server.timeout", "server.workers", "server.mode", "server.ratio", "server.tls", "server.name",
		"outer.inner.level", "outer.note",
		// items (list of objects), labels and limits (maps) and extra (Raw) are not leaves.
		"tags", "feeds", "primary", "windows",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Leaves =\n%q\nwant\n%q", got, want)
	}
	if got := Leaves(FieldsOf(&outerConf{}), "::"); !slices.Equal(got, []string{"inner::level", "note"}) {
		t.Errorf("Leaves with :: = %q", got)
	}
	if got := Leaves(nil, "."); got != nil {
		t.Errorf("Leaves(nil) = %q", got)
	}
}

func TestKeys(t *testing.T) {
	if got := Keys(nil); len(got) != 0 {
		t.Errorf("Keys(nil) = %q", got)
	}
	if got := Keys([]Field{{Key: "a"}, {Key: "b"}}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Keys = %q", got)
	}
}

type refConf struct {
	Listen string        `yaml:"listen" default:":8080" doc:"address | port"`
	Mode   string        `yaml:"mode" enum:"a,b" required:"true"`
	Every  time.Duration `yaml:"every" default:"1s" min:"1ms" max:"1h" doc:"how often"`
	Feed   string        `yaml:"feed" ref:"feed" doc:"multi\nline"`
	Items  []itemConf    `yaml:"items" doc:"the items"`
	Inner  innerConf     `yaml:"inner"`
	Extra  Raw           `yaml:"extra"`
}

func TestRows(t *testing.T) {
	rows := Rows("top", FieldsOf(&refConf{}))
	var paths []string
	for _, r := range rows {
		paths = append(paths, r.Path)
	}
	want := []string{
		"top.listen", "top.mode", "top.every", "top.feed",
		"top.items", "top.items[].name", "top.items[].weight", "top.items[].every",
		"top.inner", "top.inner.level", "top.extra",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("Rows paths =\n%q\nwant\n%q", paths, want)
	}
	if rows := Rows("", FieldsOf(&innerConf{})); len(rows) != 1 || rows[0].Path != "level" {
		t.Errorf("Rows without prefix = %+v", rows)
	}
}

func TestRowDescribe(t *testing.T) {
	rows := Rows("", FieldsOf(&refConf{}))
	want := map[string]string{
		"listen":       "address | port",
		"mode":         "required; one of a, b",
		"every":        "how often; at least 1ms; at most 1h",
		"feed":         "multi\nline; names a declared feed",
		"items":        "the items",
		"items[].name": "required",
		"inner.level":  "at most 5",
		"extra":        "",
	}
	for _, r := range rows {
		if w, ok := want[r.Path]; ok && r.describe() != w {
			t.Errorf("%s: describe() = %q, want %q", r.Path, r.describe(), w)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	if err := WriteMarkdown(&b, Rows("", FieldsOf(&refConf{}))[:5]); err != nil {
		t.Fatal(err)
	}
	want := "| key | type | default | description |\n" +
		"| --- | --- | --- | --- |\n" +
		"| `listen` | string | `:8080` | address \\| port |\n" +
		"| `mode` | string |  | required; one of a, b |\n" +
		"| `every` | duration | `1s` | how often; at least 1ms; at most 1h |\n" +
		"| `feed` | string |  | multi line; names a declared feed |\n" +
		"| `items` | list of object |  | the items |\n"
	if b.String() != want {
		t.Errorf("WriteMarkdown =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	rows := Rows("", FieldsOf(&innerConf{}))
	rows = append(rows, Rows("srv", FieldsOf(&serverConf{}))[:2]...)
	if err := WriteText(&b, "  ", rows); err != nil {
		t.Fatal(err)
	}
	want := "  level        int       3      at most 5\n" +
		"  srv.listen   string    :8080  address to listen on\n" +
		"  srv.timeout  duration  10s    request timeout; at least 1ms; at most 1m\n"
	if b.String() != want {
		t.Errorf("WriteText =\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := WriteText(&b, "", Rows("", []Field{{Key: "k", Type: "string"}})); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "k  string  -  \n" {
		t.Errorf("WriteText without default = %q", got)
	}
}
