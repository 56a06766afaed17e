package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/feedd/feedd/configs"
	"github.com/feedd/feedd/plugins"
)

func TestParseReportsEveryProblemExactly(t *testing.T) {
	reg := newRegistry(&recorder{})
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"typo in a section key", "log:\n  levle: info\n", []string{
			`c.yaml:2: log.levle: unknown key; did you mean "level"? (known: format, level)`}},
		{"typo in a top-level key", "feds: []\n", []string{
			`c.yaml:1: feds: unknown key; did you mean "feeds"? (known: server, log, telemetry, broker, history, supervisor, channels, chains, feeds, prices)`}},
		{"duration without unit", "server:\n  shutdown_timeout: 10\n", []string{
			`c.yaml:2: server.shutdown_timeout: want a duration with a unit such as "10s", got 10`}},
		{"enum", "log:\n  format: xml\n", []string{
			`c.yaml:2: log.format: "xml" is not allowed; want one of json, text`}},
		{"bound", "history:\n  size: -1\n", []string{
			`c.yaml:2: history.size: -1 is too small; want at least 0`}},
		{"cross-field", "supervisor:\n  backoff_initial: 10s\n  backoff_max: 1s\n", []string{
			`c.yaml:3: supervisor.backoff_max: 1s is less than backoff_initial 10s`}},
		{"broker not yet available", "broker:\n  type: nats\n", []string{
			`c.yaml:2: broker.type: "nats" is not allowed; want one of memory`}},
		{"otlp without endpoint", "telemetry:\n  traces:\n    exporter: otlp\n", []string{
			`c.yaml:2: telemetry.traces.endpoint: required when exporter is otlp`}},
		{"feed without type", "feeds:\n  - id: x\n", []string{
			`c.yaml:2: feeds[0].type: required: the plugin type (known: price.replay, test.source)`}},
		{"unknown feed type", "feeds:\n  - type: test.sauce\n", []string{
			`c.yaml:2: feeds[0].type: unknown source type "test.sauce"; did you mean "test.source"? (known: price.replay, test.source)`}},
		{"unknown feed key", "feeds:\n  - type: test.source\n    tagg: x\n", []string{
			`c.yaml:3: feeds[0].tagg: unknown key; did you mean "tag"? (known: id, type, optional, stall_after, start_timeout, tag, fail, ignore_cancel, interval)`}},
		{"duplicate ids", "feeds:\n  - type: test.source\n  - type: test.source\n", []string{
			`c.yaml:3: feeds[1].id: duplicate id "test.source": feeds[0] already uses it (give each instance of a type its own id)`}},
		{"bad id", "feeds:\n  - {type: test.source, id: 'a b'}\n", []string{
			`c.yaml:2: feeds[0].id: "a b" is not a valid id: want letters, digits, '.', '_' or '-', starting with a letter or digit`}},
		{"feed is not a mapping", "feeds:\n  - test.source\n", []string{
			`c.yaml:2: feeds[0]: want a mapping, got "test.source"`}},
		{"empty feed entry", "feeds:\n  -\n", []string{
			`c.yaml:2: feeds[0]: want a mapping, got null`}},
		{"unknown chain type", "chains:\n  - {name: ethereum, type: evm}\n", []string{
			`c.yaml:2: chains[0].type: unknown chain type "evm" (none are registered)`}},
		{"price source not declared", "feeds:\n  - {id: cb, type: test.source}\nprices:\n  symbols:\n    - {symbol: ETH-USD, sources: [cb, kraken]}\n", []string{
			`c.yaml:5: prices.symbols[0].sources[1]: no feed named "kraken" is declared; declared: cb`}},
		{"quorum larger than sources", "feeds:\n  - {id: cb, type: test.source}\nprices:\n  symbols:\n    - {symbol: ETH-USD, sources: [cb], min_sources: 2}\n", []string{
			`c.yaml:5: prices.symbols[0].min_sources: 2 is more than the 1 sources listed`}},
		{"unset variable", "feeds:\n  - {type: test.source, tag: '${FEEDD_TEST_UNSET}'}\n", []string{
			`c.yaml:2: feeds[0].tag: environment variable FEEDD_TEST_UNSET is not set (referenced as ${FEEDD_TEST_UNSET}); set it or write ${FEEDD_TEST_UNSET:-fallback}`}},
		{"several problems, sorted by line", "log:\n  level: loud\nserver:\n  listen: x\n", []string{
			`c.yaml:2: log.level: "loud" is not allowed; want one of debug, info, warn, error`,
			`c.yaml:4: server.listen: "x" is not host:port (e.g. 127.0.0.1:8080, :8080, [::1]:8080)`}},
		{"yaml syntax", "server:\n  listen: [\n", []string{
			`c.yaml: parse YAML: yaml: line 2: did not find expected node content`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml), nil, reg)
			ps, ok := Problems(err)
			if !ok {
				t.Fatalf("Parse = %v, want problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseEnvironmentOverridesAndExpansion(t *testing.T) {
	t.Setenv("FEEDD_SERVER_LISTEN", "127.0.0.1:9999")
	t.Setenv("FEEDD_HISTORY_SIZE", "50")
	t.Setenv("FEEDD_LOG_LEVEL", "debug")
	t.Setenv("FEEDD_TELEMETRY_TRACES_SAMPLE_RATIO", "0.25")
	t.Setenv("API_TAG", "s3cret")
	l, err := Parse("c.yaml", []byte(`server:
  listen: 127.0.0.1:8080
history:
  ttl: ${HISTORY_TTL:-90s}
feeds:
  - {id: a, type: test.source, tag: "${API_TAG}", fail: "$${literal}"}
`), nil, newRegistry(&recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Server.Listen != "127.0.0.1:9999" || c.History.Size != 50 || c.Log.Level != "debug" || c.Telemetry.Traces.SampleRatio != 0.25 {
		t.Fatalf("environment overrides not applied: %+v", c)
	}
	if c.History.TTL != 90*time.Second {
		t.Fatalf("fallback not used: ttl %s", c.History.TTL)
	}
	cfg := l.Sources[0].Config.(*testConfig)
	if cfg.Tag != "s3cret" || cfg.Fail != "${literal}" {
		t.Fatalf("expansion: %+v", cfg)
	}

	t.Setenv("FEEDD_HISTORY_SIZE", "lots")
	_, err = Parse("c.yaml", []byte("history: {}\n"), nil, newRegistry(&recorder{}))
	if ps, _ := Problems(err); len(ps) != 1 || ps[0].Error() != `$FEEDD_HISTORY_SIZE: history.size: want a whole number, got "lots"` {
		t.Fatalf("bad environment value: %v", err)
	}
}

func TestDefaultsAndEmbeddedConfig(t *testing.T) {
	l, err := Load("", plugins.Default)
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	c := l.Config
	if c.Server.Listen != "127.0.0.1:8080" || c.Server.ShutdownTimeout != 10*time.Second || c.History.Size != 1000 ||
		c.History.TTL != 10*time.Minute || c.Broker.Type != "memory" || c.Log.Format != "text" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(l.Sources) != 1 || l.Sources[0].ID != "demo" || l.Sources[0].StallAfter != time.Minute {
		t.Fatalf("embedded feeds: %+v", l.Sources)
	}
	if _, err := configs.FS.Open("data/demo-ticks.jsonl"); err != nil {
		t.Fatalf("demo data not embedded: %v", err)
	}
	// Every example configuration in configs/ validates.
	entries, _ := configs.FS.ReadDir(".")
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, _ := configs.FS.ReadFile(e.Name())
		if _, err := Parse(e.Name(), data, configs.FS, plugins.Default); err != nil {
			t.Errorf("configs/%s: %v", e.Name(), err)
		}
	}
}
