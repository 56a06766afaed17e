package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedd/feedd/channels"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/plugins"
)

// evaluateEvery is how often held-back changes, heartbeats and staleness are
// checked between ticks.
const evaluateEvery = 100 * time.Millisecond

// pricePublisher feeds ticks to the aggregator and publishes its updates
// on prices:<symbol>.
type pricePublisher struct {
	hub    *channels.Hub
	clk    clock.Clock
	log    *slog.Logger
	tracer trace.Tracer

	market feeds.MarketConfig
	// overview is whether market:overview is published (some symbol is
	// configured).
	overview bool

	mu  sync.Mutex
	agg *feeds.Aggregator
}

func newPricePublisher(hub *channels.Hub, cfg feeds.PricesConfig, clk clock.Clock, log *slog.Logger, tracer trace.Tracer) *pricePublisher {
	p := &pricePublisher{hub: hub, clk: clk, log: log, tracer: tracer, agg: feeds.NewAggregator(cfg),
		market: cfg.Market, overview: len(cfg.Symbols) > 0}
	p.agg.OnStale(p.staleChanged)
	return p
}

// staleChanged logs a symbol's transition between fresh and stale, naming
// the sources that are stale. It runs with p.mu held.
func (p *pricePublisher) staleChanged(c feeds.StaleChange) {
	if c.Stale {
		p.log.Warn("price stale: too few fresh sources", "symbol", c.Symbol, "stale_sources", c.Sources)
		return
	}
	p.log.Info("price fresh again", "symbol", c.Symbol, "stale_sources", c.Sources)
}

// Handle is the plugins.Sink for ticks.
func (p *pricePublisher) Handle(ctx context.Context, src plugins.Source, ev feeds.Event) {
	t, ok := ev.(feeds.Tick)
	if !ok {
		return
	}
	ctx, span := p.tracer.Start(ctx, "aggregate", trace.WithAttributes(attribute.String("feedd.symbol", t.Symbol)))
	// Publications leave under the lock, so that updates of a symbol reach
	// its channel in the order the aggregator made them.
	p.mu.Lock()
	defer p.mu.Unlock()
	u, due := p.agg.Observe(src.ID, t, p.clk.Now())
	if due {
		fresh := 0
		for _, s := range u.Sources {
			if !s.Stale && !s.Outlier {
				fresh++
			}
		}
		span.SetAttributes(attribute.Int("feedd.sources.used", fresh), attribute.Bool("feedd.stale", u.Stale), attribute.Float64("feedd.price", u.Price))
		p.publish(ctx, u)
	}
	span.End()
}

func (p *pricePublisher) publish(ctx context.Context, u feeds.PriceUpdate) {
	data, err := json.Marshal(u)
	if err != nil {
		p.log.Error("encode price update", "symbol", u.Symbol, "error", err)
		return
	}
	if _, err := p.hub.Publish(ctx, "prices:"+u.Symbol, data, nil); err != nil {
		p.log.Warn("publish price update", "symbol", u.Symbol, "error", err)
	}
}

// run evaluates heartbeats and staleness, and publishes market:overview
// every market.interval, until ctx ends.
func (p *pricePublisher) run(ctx context.Context) {
	t := p.clk.NewTimer(evaluateEvery)
	defer t.Stop()
	var overview <-chan time.Time // nil (never ready) when not published
	var m clock.Timer
	if p.overview && p.market.Interval > 0 {
		m = p.clk.NewTimer(p.market.Interval)
		defer m.Stop()
		overview = m.C()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			p.evaluate(ctx)
			t.Reset(evaluateEvery)
		case <-overview:
			p.publishOverview(ctx)
			m.Reset(p.market.Interval)
		}
	}
}

func (p *pricePublisher) evaluate(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.agg.Evaluate(p.clk.Now()) {
		p.publish(ctx, u)
	}
}

// publishOverview publishes market:overview.
func (p *pricePublisher) publishOverview(ctx context.Context) {
	ctx, span := p.tracer.Start(ctx, "market.overview")
	defer span.End()
	p.mu.Lock()
	o := p.agg.Overview(p.clk.Now())
	p.mu.Unlock()
	span.SetAttributes(attribute.Int("feedd.movers", len(o.TopMovers)), attribute.Int("feedd.trades", len(o.RecentTrades)))
	data, err := json.Marshal(o)
	if err != nil {
		p.log.Error("encode market overview", "error", err)
		return
	}
	if _, err := p.hub.Publish(ctx, "market:overview", data, nil); err != nil {
		p.log.Warn("publish market overview", "error", err)
	}
}

// ages reports the staleness of every source of every symbol.
func (p *pricePublisher) ages() []feeds.SourceAge {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agg.Ages(p.clk.Now())
}
