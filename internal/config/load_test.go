package config

import (
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

// unsetenv makes sure name is not set during t, restoring it afterwards.
func unsetenv(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		t.Setenv(name, "") // registers the restore
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"listen":                "FEEDD_LISTEN",
		"server.listen":         "FEEDD_SERVER_LISTEN",
		"server.read-timeout":   "FEEDD_SERVER_READ_TIMEOUT",
		"otel.exporter.Timeout": "FEEDD_OTEL_EXPORTER_TIMEOUT",
		"log.level_name":        "FEEDD_LOG_LEVEL_NAME",
	}
	for key, want := range tests {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

const loadYAML = `Server:
  Listen: ":8080"
  Timeout: 5s
  Workers: 3
log:
  level: info
feeds:
  - ID: binance
    Interval: 1s
  - id: kraken
resource:
  service.name: feedd
  deployment.environment: prod
headers:
  X-Api-Key: secret
`

func TestLoadValues(t *testing.T) {
	doc, ps := Load("cfg.yaml", []byte(loadYAML), nil)
	wantProblems(t, ps, nil)
	if doc.Name != "cfg.yaml" {
		t.Errorf("Name = %q", doc.Name)
	}
	want := map[string]any{
		// Keys are lower-cased at every level, in lists too.
		"server": map[string]any{"listen": ":8080", "timeout": "5s", "workers": 3},
		"log":    map[string]any{"level": "info"},
		"feeds": []any{
			map[string]any{"id": "binance", "interval": "1s"},
			map[string]any{"id": "kraken"},
		},
		// Dotted keys stay whole ("::" is the key delimiter).
		"resource": map[string]any{"service.name": "feedd", "deployment.environment": "prod"},
		"headers":  map[string]any{"x-api-key": "secret"},
	}
	if !reflect.DeepEqual(doc.Values, want) {
		t.Errorf("Values =\n%#v\nwant\n%#v", doc.Values, want)
	}
}

func TestLoadEmpty(t *testing.T) {
	for _, data := range []string{"", "\n", "# only a comment\n", "null", "~", "---\n"} {
		doc, ps := Load("e.yaml", []byte(data), []string{"server.listen"})
		wantProblems(t, ps, nil)
		if doc == nil || len(doc.Values) != 0 {
			t.Errorf("Load(%q) = %#v, want an empty mapping", data, doc)
		}
	}
}

type loadConf struct {
	Server   serverConf        `yaml:"server"`
	Log      logConf           `yaml:"log"`
	Tags     []string          `yaml:"tags"`
	Resource map[string]string `yaml:"resource"`
}

type logConf struct {
	Level string `yaml:"level" default:"info" enum:"debug,info,warn,error"`
	JSON  bool   `yaml:"json"`
}

func TestLoadEnvOverrides(t *testing.T) {
	envKeys := Leaves(FieldsOf(&loadConf{}), ".")
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want func(c *loadConf)
		errs []string
	}{
		{name: "file only", yaml: "server:\n  name: a\n  listen: ':1'\n",
			want: func(c *loadConf) { c.Server.Listen = ":1" }},
		{name: "env replaces a file value", yaml: "server:\n  name: a\n  listen: ':1'\n",
			env:  map[string]string{"FEEDD_SERVER_LISTEN": ":9090"},
			want: func(c *loadConf) { c.Server.Listen = ":9090" }},
		{name: "env sets an absent key", yaml: "server:\n  name: a\n",
			env: map[string]string{"FEEDD_SERVER_WORKERS": "12", "FEEDD_SERVER_TIMEOUT": "3s", "FEEDD_SERVER_TLS": "true", "FEEDD_LOG_JSON": "1"},
			want: func(c *loadConf) {
				c.Server.Workers, c.Server.Timeout, c.Server.TLS, c.Log.JSON = 12, 3*time.Second, true, true
			}},
		{name: "env sets an absent section", yaml: "",
			env:  map[string]string{"FEEDD_SERVER_NAME": "fromenv", "FEEDD_LOG_LEVEL": "debug"},
			want: func(c *loadConf) { c.Server.Name, c.Log.Level = "fromenv", "debug" }},
		{name: "env list of strings", yaml: "server: {name: a}\ntags: [x]\n",
			env:  map[string]string{"FEEDD_TAGS": "a,b c"},
			want: func(c *loadConf) { c.Tags = []string{"a", "b", "c"} }},
		{name: "env value is expanded", yaml: "server: {name: a}\n",
			env:  map[string]string{"FEEDD_SERVER_LISTEN": "${TEST_LOAD_HOST}:${TEST_LOAD_PORT:-80}", "TEST_LOAD_HOST": "h"},
			want: func(c *loadConf) { c.Server.Listen = "h:80" }},
		{name: "empty env value is ignored", yaml: "server:\n  name: a\n  listen: ':1'\n",
			env:  map[string]string{"FEEDD_SERVER_LISTEN": ""},
			want: func(c *loadConf) { c.Server.Listen = ":1" }},
		{name: "unbound variable is ignored", yaml: "server: {name: a}\n",
			env:  map[string]string{"FEEDD_SERVER_BOGUS": "x", "FEEDD_RESOURCE_SERVICE_NAME": "y"},
			want: func(c *loadConf) {}},
		{name: "bad env values name their variable", yaml: "log:\n  level: info\nserver:\n  name: a\n  workers: 2\n  timeout: 1\n",
			env: map[string]string{"FEEDD_SERVER_WORKERS": "lots", "FEEDD_LOG_LEVEL": "loud"},
			errs: []string{
				// File problems first, by line; then those from the environment.
				`cfg.yaml:6: server.timeout: want a duration with a unit such as "1s", got 1`,
				`$FEEDD_LOG_LEVEL: log.level: "loud" is not allowed; want one of debug, info, warn, error`,
				`$FEEDD_SERVER_WORKERS: server.workers: want a whole number, got "lots"`,
			}},
		{name: "env value for an absent key", yaml: "server:\n  name: a\n",
			env:  map[string]string{"FEEDD_SERVER_TIMEOUT": "10"},
			errs: []string{`$FEEDD_SERVER_TIMEOUT: server.timeout: want a duration such as "500ms", "10s" or "1m30s", got "10"`}},
		{name: "env value expansion problem", yaml: "server:\n  name: a\n",
			env:  map[string]string{"FEEDD_SERVER_LISTEN": "${TEST_LOAD_PORT}"},
			errs: []string{`$FEEDD_SERVER_LISTEN: server.listen: ` + unsetMsg("TEST_LOAD_PORT")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unsetenv(t, "TEST_LOAD_PORT")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			doc, ps := Load("cfg.yaml", []byte(tt.yaml), envKeys)
			if doc == nil {
				t.Fatalf("Load failed: %v", ps)
			}
			var got loadConf
			Decoder{}.Decode("", doc.Values, &got, &ps)
			doc.Locate(ps)
			wantProblems(t, ps, tt.errs)
			if tt.want == nil {
				return
			}
			var want loadConf
			Decoder{}.Decode("", map[string]any{"server": map[string]any{"name": got.Server.Name}}, &want, &Problems{})
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadEnvValuesAreStrings(t *testing.T) {
	t.Setenv("FEEDD_SERVER_WORKERS", "12")
	t.Setenv("FEEDD_A_B", "x")
	doc, ps := Load("cfg.yaml", []byte("server:\n  workers: 3\n"), []string{"server.workers", "a.b"})
	wantProblems(t, ps, nil)
	want := map[string]any{"server": map[string]any{"workers": "12"}, "a": map[string]any{"b": "x"}}
	if !reflect.DeepEqual(doc.Values, want) {
		t.Errorf("Values = %#v, want %#v", doc.Values, want)
	}
}

func TestLoadEnvKeysWithDash(t *testing.T) {
	t.Setenv("FEEDD_HTTP_READ_TIMEOUT", "7s")
	doc, ps := Load("cfg.yaml", []byte("http:\n  read-timeout: 1s\n"), []string{"http.read-timeout"})
	wantProblems(t, ps, nil)
	if got := doc.Values["http"].(map[string]any)["read-timeout"]; got != "7s" {
		t.Errorf("http.read-timeout = %#v, want \"7s\"", got)
	}
}

func TestLoadDottedKeysDecode(t *testing.T) {
	doc, ps := Load("cfg.yaml", []byte("server: {name: a}\nresource:\n  service.name: feedd\n  Service.Version: \"1.2\"\n  k8s.pod.name: ${TEST_LOAD_POD:-p0}\n"), nil)
	wantProblems(t, ps, nil)
	var got loadConf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	wantProblems(t, ps, nil)
	want := map[string]string{"service.name": "feedd", "service.version": "1.2", "k8s.pod.name": "p0"}
	if !reflect.DeepEqual(got.Resource, want) {
		t.Errorf("resource = %v, want %v", got.Resource, want)
	}
}

func TestLoadParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{name: "unclosed flow", yaml: "a: [\n",
			want: []string{"bad.yaml: parse YAML: yaml: line 1: did not find expected node content"}},
		{name: "bad indentation", yaml: "a:\n  b: 1\n c: 2\n",
			want: []string{"bad.yaml: parse YAML: yaml: line 2: did not find expected key"}},
		{name: "tab indentation", yaml: "a:\n\tb: 1\n",
			want: []string{"bad.yaml: parse YAML: yaml: line 2: found character that cannot start any token"}},
		{name: "duplicate key", yaml: "a: 1\na: 2\n",
			want: []string{"bad.yaml: parse YAML: yaml: unmarshal errors:\n  line 2: mapping key \"a\" already defined at line 1"}},
		{name: "top level list", yaml: "- a\n- b\n",
			want: []string{"bad.yaml: parse YAML: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into map[string]interface {}"}},
		{name: "top level scalar", yaml: "hello\n",
			want: []string{"bad.yaml: parse YAML: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hello` into map[string]interface {}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, ps := Load("bad.yaml", []byte(tt.yaml), []string{"a"})
			if doc != nil {
				t.Errorf("Load returned a document: %#v", doc.Values)
			}
			wantProblems(t, ps, tt.want)
			for _, p := range ps {
				if p.File != "bad.yaml" || p.Path != "" {
					t.Errorf("problem %+v, want File bad.yaml and no path", p)
				}
			}
		})
	}
}

func TestLoadExpansionProblemsLocated(t *testing.T) {
	unsetenv(t, "TEST_LOAD_UNSET_Z", "TEST_LOAD_UNSET_A", "TEST_LOAD_UNSET_M")
	t.Setenv("TEST_LOAD_SET", "v")
	data := "zeta: ${TEST_LOAD_UNSET_Z}\n" + // line 1
		"alpha:\n" + // line 2
		"  - ok ${TEST_LOAD_SET}\n" + // line 3
		"  - ${TEST_LOAD_UNSET_A}\n" + // line 4
		"mid:\n" + // line 5
		"  deep:\n" + // line 6
		"    key: ${bad-name}\n" + // line 7
		"    lit: $${TEST_LOAD_UNSET_M}\n" + // line 8
		"    un: \"${TEST_LOAD_SET\"\n" // line 9
	doc, ps := Load("cfg.yaml", []byte(data), nil)
	if doc == nil {
		t.Fatalf("Load failed: %v", ps)
	}
	// Expand visits keys alphabetically; Locate orders by line.
	wantProblems(t, ps, []string{
		"cfg.yaml:1: zeta: " + unsetMsg("TEST_LOAD_UNSET_Z"),
		"cfg.yaml:4: alpha[1]: " + unsetMsg("TEST_LOAD_UNSET_A"),
		"cfg.yaml:7: mid.deep.key: " + badMsg("bad-name"),
		`cfg.yaml:9: mid.deep.un: unterminated ${ in "${TEST_LOAD_SET"; write $${ for a literal ${`,
	})
	if got := doc.Values["alpha"].([]any)[0]; got != "ok v" {
		t.Errorf("alpha[0] = %#v", got)
	}
	if got := doc.Values["mid"].(map[string]any)["deep"].(map[string]any)["lit"]; got != "${TEST_LOAD_UNSET_M}" {
		t.Errorf("mid.deep.lit = %#v", got)
	}
}

func TestLoadDecodeProblemsLocated(t *testing.T) {
	data := "server:\n" + // 1
		"  name: a\n" + // 2
		"  timeout: 10\n" + // 3
		"  Wrkers: 2\n" + // 4
		"log:\n" + // 5
		"  level: loud\n" + // 6
		"tags:\n" + // 7
		"  - a\n" + // 8
		"  - [b]\n" + // 9
		"extra: 1\n" // 10
	doc, ps := Load("cfg.yaml", []byte(data), nil)
	wantProblems(t, ps, nil)
	var got loadConf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	ps = append(ps, Problem{Path: "", Msg: "whole document"}, Problem{Path: "nowhere.at.all", Msg: "not in the file"})
	doc.Locate(ps)
	wantProblems(t, ps, []string{
		`cfg.yaml:3: server.timeout: want a duration with a unit such as "10s", got 10`,
		`cfg.yaml:4: server.wrkers: unknown key; did you mean "workers"? ` + serverKnown,
		`cfg.yaml:6: log.level: "loud" is not allowed; want one of debug, info, warn, error`,
		`cfg.yaml:9: tags[1]: want a string, got a list`,
		`cfg.yaml:10: extra: unknown key (known: server, log, tags, resource)`,
		`cfg.yaml: whole document`,
		`cfg.yaml: nowhere.at.all: not in the file`,
	})
}

func TestLoadPositions(t *testing.T) {
	doc, ps := Load("cfg.yaml", []byte(loadYAML), nil)
	wantProblems(t, ps, nil)
	want := map[string]int{
		"server": 1, "server.listen": 2, "server.timeout": 3, "server.workers": 4,
		"feeds": 7, "feeds[0]": 8, "feeds[0].id": 8, "feeds[0].interval": 9, "feeds[1]": 10, "feeds[1].id": 10,
		"resource.service.name": 12, "resource.deployment.environment": 13, "headers.x-api-key": 15,
	}
	for path, line := range want {
		if got := doc.Positions.Line(path); got != line {
			t.Errorf("Line(%q) = %d, want %d", path, got, line)
		}
	}
}

// BUG: Leaves lists a []time.Duration (or []int) field as a leaf to bind to
// an environment variable, but decodeValue only splits an environment string
// into a list when the element kind is string, so FEEDD_WINDOWS="1s,5s" is
// rejected with `windows: want a list, got "1s,5s"`.
func TestLoadEnvListOfDurations(t *testing.T) {
	type conf struct {
		Windows []time.Duration `yaml:"windows"`
		Ports   []int           `yaml:"ports"`
	}
	keys := Leaves(FieldsOf(&conf{}), ".")
	if !slices.Equal(keys, []string{"windows", "ports"}) {
		t.Fatalf("Leaves = %q", keys)
	}
	t.Setenv("FEEDD_WINDOWS", "1s,5s")
	t.Setenv("FEEDD_PORTS", "80 443")
	doc, ps := Load("cfg.yaml", nil, keys)
	var got conf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	wantProblems(t, ps, nil)
	if !slices.Equal(got.Windows, []time.Duration{time.Second, 5 * time.Second}) || !slices.Equal(got.Ports, []int{80, 443}) {
		t.Errorf("decoded %+v", got)
	}
}

// BUG (minor): YAML resolves an unquoted date to a timestamp, which a string
// field then rejects with Go's time formatting:
// `since: want a string, got 2024-01-02 00:00:00 +0000 UTC`.
func TestLoadDateIntoString(t *testing.T) {
	type conf struct {
		Since string `yaml:"since"`
	}
	doc, ps := Load("cfg.yaml", []byte("since: 2024-01-02\n"), nil)
	var got conf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	wantProblems(t, ps, nil)
	if got.Since != "2024-01-02" {
		t.Errorf("since = %q", got.Since)
	}
}

func TestLoadFromEnv(t *testing.T) {
	unsetenv(t, "FEEDD_LOG_LEVEL")
	t.Setenv("FEEDD_SERVER_LISTEN", ":1")
	t.Setenv("FEEDD_SERVER_NAME", "n")
	t.Setenv("FEEDD_UNBOUND", "x")
	doc, ps := Load("cfg.yaml", []byte("server:\n  listen: ':2'\n"), []string{"server.listen", "server.name", "log.level"})
	wantProblems(t, ps, nil)
	want := map[string]string{"server.listen": "FEEDD_SERVER_LISTEN", "server.name": "FEEDD_SERVER_NAME"}
	if !reflect.DeepEqual(doc.FromEnv, want) {
		t.Errorf("FromEnv = %v, want %v", doc.FromEnv, want)
	}
}

// BUG: Load records a key in FromEnv whenever its variable is set, even to
// the empty string, but viper ignores empty variables (AllowEmptyEnv is off)
// and keeps the file's value. A problem with that file value is then blamed
// on the variable: with FEEDD_SERVER_WORKERS="" and "workers: x" in the file,
// the problem reads `$FEEDD_SERVER_WORKERS: server.workers: ...` instead of
// `cfg.yaml:3: server.workers: ...`.
func TestLoadEmptyEnvNotBlamed(t *testing.T) {
	t.Setenv("FEEDD_SERVER_WORKERS", "")
	doc, ps := Load("cfg.yaml", []byte("server:\n  name: a\n  workers: x\n"), []string{"server.workers"})
	var got loadConf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	doc.Locate(ps)
	wantProblems(t, ps, []string{`cfg.yaml:3: server.workers: want a whole number, got "x"`})
}

// BUG: Locate matches FromEnv paths exactly, so a problem with one element
// of a list that came from the environment ("tags[1]") is not blamed on the
// variable but placed at the file's line for "tags", where a different value
// stands.
func TestLoadEnvListElementBlamed(t *testing.T) {
	type conf struct {
		Tags []string `yaml:"tags" enum:"red,green"`
	}
	t.Setenv("FEEDD_TAGS", "red,blu")
	doc, ps := Load("cfg.yaml", []byte("tags: [green]\n"), []string{"tags"})
	var got conf
	Decoder{}.Decode("", doc.Values, &got, &ps)
	doc.Locate(ps)
	wantProblems(t, ps, []string{`$FEEDD_TAGS: tags[1]: "blu" is not allowed; want one of red, green`})
}

// Keys that differ only in case ("Name", "name") are distinct in YAML but one
// key to feedd: viper would keep one value at random, so each repeat is a
// problem (and a document with problems is refused).
func TestLoadKeysDifferingInCase(t *testing.T) {
	data := []byte("server:\n  Name: upper\n  name: lower\n  NAME: caps\n")
	_, ps := Load("cfg.yaml", data, nil)
	wantProblems(t, ps, []string{
		`cfg.yaml:3: server.name: key "name" repeats "Name": keys are case-insensitive; keep one`,
		`cfg.yaml:4: server.name: key "NAME" repeats "Name": keys are case-insensitive; keep one`,
	})
}
