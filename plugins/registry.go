// Package plugins holds the plugin registry, the spec every feeds: entry is
// decoded and checked against, and the supervisor that runs instances. Plugin
// types register themselves from an init function in their own package, as
// database/sql drivers do; a binary gets a plugin type by importing its
// package (cmd/feedd imports them all through plugins/all).
package plugins

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
)

// Kind says where in the configuration a plugin type is used.
type Kind string

// The plugin kinds.
const (
	// KindSource plugins are entries under feeds: that report events.
	KindSource Kind = "source"
	// KindChain plugins are entries under chains: that give sources a shared
	// connection to a blockchain.
	KindChain Kind = "chain"
)

// Type is what a plugin registers: its name, its configuration and how to
// make an instance.
type Type struct {
	// Name is the type's name in YAML, lower case, namespaced by a dot
	// (e.g. "price.coinbase").
	Name string
	// Kind is where the type is used.
	Kind Kind
	// Doc is one line on what an instance does.
	Doc string
	// Config returns a fresh pointer to the type's configuration struct,
	// whose tags declare its keys (see package config). Nil means the type
	// has no keys of its own.
	Config func() any
	// Example is a YAML example of one entry, shared by docs and tests.
	Example string
	// StallAfter is how long a running instance may go without an event
	// before the supervisor restarts it; an entry's stall_after overrides it.
	// Zero means no stall watch.
	StallAfter time.Duration
	// NewSource makes a source instance from its decoded configuration (the
	// value Config returned, filled in). It should not block or do I/O; that
	// belongs in Run.
	NewSource func(cfg any, env Env) (Instance, error)
	// NewChain makes a chain from its name and decoded configuration; chain
	// types must set it. It should not block or do I/O; that belongs in
	// Chain.Run.
	NewChain func(name string, cfg any, env Env) (Chain, error)
}

// Env is what an instance gets from the daemon.
type Env struct {
	// ID is the instance's id.
	ID string
	// Logger logs with the instance's id and type attached.
	Logger *slog.Logger
	// Clock is the time source; logic that depends on time must use it.
	Clock clock.Clock
	// Files resolves relative file names in the configuration: the
	// configuration file's folder, or the embedded configs for the built-in
	// default.
	Files fs.FS
	// Tracer and Meter are the instance's, named after its type
	// ("github.com/feedd/feedd/plugins/<type>"); see the README's
	// observability conventions.
	Tracer trace.Tracer
	Meter  metric.Meter
	// Chain returns a chain declared under chains: by name; nil when the
	// daemon runs no chains (some tests).
	Chain ChainLookup
	// Interest registers for subscriptions to channels of an interest
	// namespace; nil when the daemon has no hub (some tests).
	Interest InterestFunc
}

// Instance is a running plugin instance.
type Instance interface {
	// Run does the instance's work until ctx ends, reporting through h. It
	// calls h.Ready once it is connected and subscribed (its first event
	// counts as ready too). Returning an error makes the supervisor restart
	// it with backoff; returning nil means the instance has finished for
	// good. Run must return soon after ctx ends.
	Run(ctx context.Context, h *Host) error
}

// Registry holds plugin types by name. The zero value is not usable; use
// NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]Type
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]Type{}} }

// Default is the registry plugin packages register into from init.
var Default = NewRegistry()

// Register adds t to the Default registry; see Registry.Register.
func Register(t Type) { Default.Register(t) }

var typeName = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z][a-z0-9_]*)*$`)

// Register adds t. It panics when the name is malformed or taken, the kind is
// unknown, a source lacks NewSource, or the config spec or example is
// malformed: all programming errors found at start-up.
func (r *Registry) Register(t Type) {
	if !typeName.MatchString(t.Name) {
		panic(fmt.Sprintf("plugins: malformed type name %q", t.Name))
	}
	if t.Kind != KindSource && t.Kind != KindChain {
		panic(fmt.Sprintf("plugins: type %s: unknown kind %q", t.Name, t.Kind))
	}
	if t.Kind == KindSource && t.NewSource == nil {
		panic(fmt.Sprintf("plugins: source type %s has no NewSource", t.Name))
	}
	if t.Kind == KindChain && t.NewChain == nil {
		panic(fmt.Sprintf("plugins: chain type %s has no NewChain", t.Name))
	}
	if t.Config != nil {
		config.FieldsOf(t.Config()) // panics on a malformed spec
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[t.Name]; dup {
		panic(fmt.Sprintf("plugins: type %s registered twice", t.Name))
	}
	r.types[t.Name] = t
}

// Lookup returns the type called name.
func (r *Registry) Lookup(name string) (Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Types returns every registered type of kind ("" for all), sorted by name.
func (r *Registry) Types(kind Kind) []Type {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Type
	for _, t := range r.types {
		if kind == "" || t.Kind == kind {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names of every registered type of kind, sorted.
func (r *Registry) Names(kind Kind) []string {
	var out []string
	for _, t := range r.Types(kind) {
		out = append(out, t.Name)
	}
	return out
}

// Fields describes the keys of an entry of type t: the common keys of its
// kind, then its own.
func (t Type) Fields() []config.Field {
	var common any = &SourceCommon{}
	if t.Kind == KindChain {
		common = &ChainCommon{}
	}
	fields := config.FieldsOf(common)
	if t.Config != nil {
		fields = append(fields, config.FieldsOf(t.Config())...)
	}
	return fields
}

func knownList(names []string) string {
	if len(names) == 0 {
		return "none are registered"
	}
	return "known: " + strings.Join(names, ", ")
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
