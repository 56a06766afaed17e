package config

import (
	"strings"
	"testing"
	"time"
)

// fuzzConf has a field of every kind the decoder handles.
type fuzzConf struct {
	Name    string            `yaml:"name" default:"x" doc:"a name"`
	Count   int               `yaml:"count" min:"0" max:"10"`
	Small   uint32            `yaml:"small"`
	I8      int8              `yaml:"i8"`
	Ratio   float64           `yaml:"ratio" min:"0" max:"1"`
	F32     float32           `yaml:"f32"`
	On      bool              `yaml:"on"`
	Every   time.Duration     `yaml:"every" default:"1s" min:"1ms"`
	Mode    string            `yaml:"mode" enum:"alpha,beta"`
	Feed    string            `yaml:"feed" ref:"feed"`
	Tags    []string          `yaml:"tags" enum:"red,green"`
	Feeds   []string          `yaml:"feeds" ref:"feed"`
	Windows []time.Duration   `yaml:"windows"`
	Labels  map[string]string `yaml:"labels"`
	Limits  map[string]int    `yaml:"limits"`
	Extra   Raw               `yaml:"extra"`
	Raws    []Raw             `yaml:"raws"`
	Sub     fuzzSub           `yaml:"sub"`
	Items   []itemConf        `yaml:"items"`
}

type fuzzSub struct {
	A     int        `yaml:"a" default:"1"`
	Inner fuzzLeaf   `yaml:"inner"`
	List  []fuzzLeaf `yaml:"list"`
}

type fuzzLeaf struct {
	C string `yaml:"c" required:"true"`
}

func (l *fuzzLeaf) Validate(v *Validation) {
	if l.C == "bad" {
		v.Errorf("c", "bad is bad")
	}
	v.Ref("c", "feed", l.C)
}

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		"name: a\ncount: 3\nevery: 5s\nmode: alpha\n",
		"name: [1]\ncount: x\nsmall: 5000000000\ni8: 300\nratio: .nan\nf32: 1e300\non: yes\nevery: 10\nmode: gama\n",
		"tags: [red, blu]\nfeeds: [binance, krakn]\nwindows: [1s, 5, -1m]\nlabels: {a: 1, b: [x]}\nlimits: {x: y}\n",
		"extra: {Any: [1, {b: 2}]}\nraws: [{a: 1}, null, 3]\nsub: {a: 2, inner: {c: bad}, list: [{c: x}, {}, 5]}\n",
		"items:\n  - name: a\n    weight: -1\n  - nmae: b\n  - null\n",
		"a: &x {b: 1}\nc: *x\nsub: *x\n",
		"name: ${FUZZ_UNSET_VAR}\nlabels:\n  k: ${FUZZ_UNSET:-fb}$${lit}${bad-name}${\n",
		"- a\n- b\n",
		"a: [\n",
		"? [a]\n: b\n",
		"1: x\ntrue: y\nnull: z\n",
		"when: 2024-01-02\nbin: !!binary aGVsbG8=\n",
		"Server.Listen: x\nresource:\n  service.name: s\n",
		"name: x\nname: y\n",
		"count: 18446744073709551615\nratio: -0\nsmall: -1\n",
	} {
		f.Add([]byte(seed))
	}
	refs := func(kind, name string) (bool, []string) {
		declared := []string{"binance", "kraken"}
		for _, d := range declared {
			if d == name {
				return true, declared
			}
		}
		return false, declared
	}
	envKeys := Leaves(FieldsOf(&fuzzConf{}), ".")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, ps := Load("fuzz.yaml", data, envKeys)
		for _, p := range ps {
			if p.File != "fuzz.yaml" {
				t.Errorf("problem without its file: %+v", p)
			}
		}
		if doc == nil {
			if len(ps) == 0 {
				t.Fatal("Load returned neither a document nor problems")
			}
			return
		}
		var c fuzzConf
		Decoder{Refs: refs}.Decode("", doc.Values, &c, &ps)
		doc.Locate(ps)
		for _, p := range ps {
			if p.Msg == "" {
				t.Errorf("problem without a message: %+v", p)
			}
			if p.Line < 0 {
				t.Errorf("negative line: %+v", p)
			}
		}
		if len(ps) > 0 && ps.Err() == nil {
			t.Error("Err() is nil with problems")
		}
		_ = ps.Error()
		// A clean decode leaves every bound honoured.
		if len(ps) == 0 {
			if c.Count < 0 || c.Count > 10 || c.Ratio < 0 || c.Ratio > 1 || c.Every < time.Millisecond {
				t.Errorf("clean decode out of bounds: %+v", c)
			}
			if c.Mode != "" && c.Mode != "alpha" && c.Mode != "beta" {
				t.Errorf("clean decode with mode %q", c.Mode)
			}
			if strings.Contains(c.Name, "${") && !strings.Contains(string(data), "$${") {
				t.Errorf("clean decode left a reference in %q", c.Name)
			}
		}
	})
}
