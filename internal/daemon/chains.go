package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/plugins"
)

// chainSet holds the chains declared at start; they are shared by every
// source that names them and change only with a restart.
type chainSet struct {
	logger *slog.Logger
	clock  clock.Clock
	policy backoff.Policy
	byName map[string]plugins.Chain
	specs  []plugins.ChainSpec

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newChainSet makes every chain of specs (no I/O yet).
func newChainSet(specs []plugins.ChainSpec, env func(spec plugins.ChainSpec) plugins.Env, logger *slog.Logger, clk clock.Clock, policy backoff.Policy) (*chainSet, error) {
	cs := &chainSet{logger: logger, clock: clk, policy: policy, byName: map[string]plugins.Chain{}, specs: specs}
	for _, s := range specs {
		c, err := s.New(env(s))
		if err != nil {
			return nil, fmt.Errorf("chains: %s: %w", s.Name, err)
		}
		cs.byName[s.Name] = c
	}
	return cs, nil
}

// lookup is the plugins.ChainLookup of the set.
func (cs *chainSet) lookup(name string) (plugins.Chain, error) {
	if c, ok := cs.byName[name]; ok {
		return c, nil
	}
	names := make([]string, 0, len(cs.byName))
	for n := range cs.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("chain %q is not running (running: %s; chains change only with a restart)", name, strings.Join(names, ", "))
}

// status reports every chain, in configuration order.
func (cs *chainSet) status() []plugins.ChainStatus {
	out := []plugins.ChainStatus{}
	for _, s := range cs.specs {
		st := plugins.ChainStatus{Name: s.Name, Type: s.Type}
		if r, ok := cs.byName[s.Name].(plugins.StatusReporter); ok {
			st = r.ChainStatus()
		}
		out = append(out, st)
	}
	return out
}

// start runs every chain until stop; a chain whose Run fails is run again
// after a backoff.
func (cs *chainSet) start(ctx context.Context) {
	ctx, cs.cancel = context.WithCancel(ctx)
	for _, s := range cs.specs {
		c := cs.byName[s.Name]
		log := cs.logger.With("chain", s.Name, "type", s.Type)
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			for n := 0; ; n++ {
				err := c.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					log.Info("chain finished")
					return
				}
				wait := cs.policy.Delay(n, rand.Float64)
				log.Error("chain failed; running it again", "error", err, "in", wait)
				t := cs.clock.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C():
				}
			}
		}()
	}
}

// stop ends every chain and waits for them.
func (cs *chainSet) stop() {
	if cs.cancel != nil {
		cs.cancel()
	}
	cs.wg.Wait()
}

// publish sends a plugin's publication to its channel.
func (d *Daemon) publish(ctx context.Context, src plugins.Source, p feeds.Publication) {
	data, err := json.Marshal(p.Data)
	if err != nil {
		d.logger.Error("encode publication", "id", src.ID, "channel", p.Channel, "error", err)
		return
	}
	var snap json.RawMessage
	if p.Snapshot != nil {
		if snap, err = json.Marshal(p.Snapshot); err != nil {
			d.logger.Error("encode snapshot", "id", src.ID, "channel", p.Channel, "error", err)
			return
		}
	}
	if _, err := d.hub.Publish(ctx, p.Channel, data, snap); err != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("feedd.publish.error", err.Error()))
		d.logger.Warn("publish", "id", src.ID, "channel", p.Channel, "error", err)
	}
}
