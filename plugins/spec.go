package plugins

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/feedd/feedd/internal/config"
)

// SourceCommon holds the keys every feeds: entry has besides its type's own.
type SourceCommon struct {
	ID           string        `yaml:"id" doc:"unique instance id, used in status, logs and price source lists; defaults to the type"`
	Type         string        `yaml:"type" required:"true" doc:"plugin type (feedd plugins lists them)"`
	Optional     bool          `yaml:"optional" doc:"readiness (/readyz) does not wait for this instance"`
	StallAfter   time.Duration `yaml:"stall_after" doc:"restart the instance when it reports no event for this long; 0 turns the watch off (default: the type's)"`
	StartTimeout time.Duration `yaml:"start_timeout" default:"30s" min:"1ms" doc:"on reload, how long a changed instance's replacement may take to become ready before the old one is kept"`
}

// ChainCommon holds the keys every chains: entry has besides its type's own.
type ChainCommon struct {
	Name string `yaml:"name" required:"true" doc:"the chain's name in channels (blocks:<name>) and in feeds' chain key"`
	Type string `yaml:"type" required:"true" doc:"chain type (feedd plugins lists them)"`
}

// Spec is one source instance as the configuration asks for it, validated.
type Spec struct {
	// ID is the instance's unique id.
	ID string
	// Type is the plugin type's name.
	Type string
	// Optional instances do not hold back readiness.
	Optional bool
	// StallAfter is the watchdog period; zero turns it off.
	StallAfter time.Duration
	// StartTimeout bounds how long a replacement may take to become ready.
	StartTimeout time.Duration
	// Config is the decoded configuration of the type (nil when it has none).
	Config any
	// Path is the entry's YAML path (feeds[2]).
	Path string

	fingerprint string
	newSource   func(cfg any, env Env) (Instance, error)
}

// Publisher is implemented by configurations whose instance publishes to
// channels of a namespace the operator names (evm.logs' channel template),
// so the daemon can check that the namespace is declared.
type Publisher interface {
	// PublishNamespace returns the namespace and the configuration key
	// that names it.
	PublishNamespace() (ns, key string)
}

// Same reports whether s and o describe the same instance with the same
// configuration, so that a reload can leave it running.
func (s Spec) Same(o Spec) bool { return s.ID == o.ID && s.fingerprint == o.fingerprint }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// IDs returns the ids the entries declare (the id key, or the type when it
// is absent), in order, for cross references.
func IDs(entries []config.Raw, idKey string) []string {
	var out []string
	for _, e := range entries {
		id, _ := e[idKey].(string)
		if id == "" && idKey == "id" {
			id, _ = e["type"].(string)
		}
		if id != "" && !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Sources validates the feeds: entries found at path and returns an instance
// spec for each, adding every problem to ps (a spec is returned only when its
// entry has none).
func (r *Registry) Sources(path string, entries []config.Raw, refs config.Refs, ps *config.Problems) []Spec {
	dec := config.Decoder{Refs: refs}
	seen := map[string]int{}
	var out []Spec
	for i, entry := range entries {
		if entry == nil {
			continue // not a mapping: the section's decode reported it
		}
		p := config.Index(path, i)
		before := len(*ps)
		var common SourceCommon
		t, ok := r.entryType(p, entry, KindSource, ps)
		var cfg any
		targets := []any{&common}
		if ok && t.Config != nil {
			cfg = t.Config()
			targets = append(targets, cfg)
		} else if !ok {
			// Decode the common keys alone, to report their problems; the
			// type's own keys cannot be judged without the type.
			dec.Decode(p, commonOnly(entry, &common), &common, ps)
			continue
		}
		dec.DecodeAll(p, entry, targets, ps)
		if common.ID == "" {
			common.ID = common.Type
		}
		switch j, dup := seen[common.ID]; {
		case !idPattern.MatchString(common.ID):
			ps.Add(config.Join(p, "id"), "%q is not a valid id: want letters, digits, '.', '_' or '-', starting with a letter or digit", common.ID)
		case dup:
			ps.Add(config.Join(p, "id"), "duplicate id %q: %s already uses it (give each instance of a type its own id)", common.ID, config.Index(path, j))
		default:
			seen[common.ID] = i
		}
		stall := t.StallAfter
		if _, set := entry["stall_after"]; set {
			stall = common.StallAfter
		}
		if len(*ps) > before {
			continue
		}
		fp, err := json.Marshal(entry)
		if err != nil {
			ps.Add(p, "cannot fingerprint entry: %v", err)
			continue
		}
		out = append(out, Spec{
			ID:           common.ID,
			Type:         t.Name,
			Optional:     common.Optional,
			StallAfter:   stall,
			StartTimeout: common.StartTimeout,
			Config:       cfg,
			Path:         p,
			fingerprint:  string(fp),
			newSource:    t.NewSource,
		})
	}
	return out
}

// entryType looks up the type an entry names, reporting a missing, unknown or
// misplaced type.
func (r *Registry) entryType(path string, entry config.Raw, kind Kind, ps *config.Problems) (Type, bool) {
	raw, present := entry["type"]
	name, isString := raw.(string)
	switch {
	case !present || raw == nil:
		ps.Add(config.Join(path, "type"), "required: the plugin type (%s)", knownList(r.Names(kind)))
		return Type{}, false
	case !isString:
		ps.Add(config.Join(path, "type"), "want a type name, got %v", raw)
		return Type{}, false
	}
	t, ok := r.Lookup(name)
	if !ok {
		names := r.Names(kind)
		msg := fmt.Sprintf("unknown %s type %q", kind, name)
		if s := config.Suggest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		ps.Add(config.Join(path, "type"), "%s (%s)", msg, knownList(names))
		return Type{}, false
	}
	if t.Kind != kind {
		ps.Add(config.Join(path, "type"), "%q is a %s type, not a %s type (%s)", name, t.Kind, kind, knownList(r.Names(kind)))
		return Type{}, false
	}
	return t, true
}

// Chains validates the chains: entries found at path and returns a spec for
// each, adding every problem to ps (a spec is returned only when its entry
// has none).
func (r *Registry) Chains(path string, entries []config.Raw, ps *config.Problems) []ChainSpec {
	dec := config.Decoder{}
	seen := map[string]int{}
	var out []ChainSpec
	for i, entry := range entries {
		if entry == nil {
			continue
		}
		p := config.Index(path, i)
		before := len(*ps)
		var common ChainCommon
		t, ok := r.entryType(p, entry, KindChain, ps)
		targets := []any{&common}
		var cfg any
		if ok && t.Config != nil {
			cfg = t.Config()
			targets = append(targets, cfg)
		}
		if ok {
			dec.DecodeAll(p, entry, targets, ps)
		} else {
			dec.Decode(p, commonOnly(entry, &common), &common, ps)
		}
		if common.Name == "" {
			continue
		}
		if j, dup := seen[common.Name]; dup {
			ps.Add(config.Join(p, "name"), "duplicate chain name %q: %s already uses it", common.Name, config.Index(path, j))
		} else if !idPattern.MatchString(common.Name) {
			ps.Add(config.Join(p, "name"), "%q is not a valid chain name: want letters, digits, '.', '_' or '-'", common.Name)
		} else {
			seen[common.Name] = i
		}
		if !ok || len(*ps) > before {
			continue
		}
		spec, err := chainSpec(t, common, cfg, entry)
		if err != nil {
			ps.Add(p, "cannot fingerprint entry: %v", err)
			continue
		}
		out = append(out, spec)
	}
	return out
}

// commonOnly returns the keys of entry that common declares, for checking
// them when the entry's type is missing or unknown (reported already, so its
// type key is left out).
func commonOnly(entry config.Raw, common any) config.Raw {
	out := config.Raw{"type": "-"}
	for _, k := range config.Keys(config.FieldsOf(common)) {
		if v, ok := entry[k]; ok && k != "type" {
			out[k] = v
		}
	}
	return out
}
