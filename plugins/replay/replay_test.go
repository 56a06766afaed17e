package replay_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/feedd/feedd/configs"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/replay"
	"go.yaml.in/yaml/v3"
)

const wait = 5 * time.Second

var epoch = time.Date(2024, 11, 22, 10, 0, 0, 0, time.UTC)

// sink records every tick the supervisor hands it.
type sink struct {
	mu    sync.Mutex
	ticks []feeds.Tick
	srcs  []plugins.Source
}

func (s *sink) Handle(_ context.Context, src plugins.Source, ev feeds.Event) {
	tick, ok := ev.(feeds.Tick)
	if !ok {
		panic(fmt.Sprintf("unexpected event %T", ev))
	}
	s.mu.Lock()
	s.ticks = append(s.ticks, tick)
	s.srcs = append(s.srcs, src)
	s.mu.Unlock()
}

func (s *sink) got() []feeds.Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ticks)
}

// rig runs replay instances in a real Supervisor on a fake clock.
type rig struct {
	t    *testing.T
	clk  *clock.Fake
	sink *sink
	sup  *plugins.Supervisor
}

// specs decodes feeds: entries through plugins.Default and fails on any
// problem.
func specs(t *testing.T, entries ...config.Raw) []plugins.Spec {
	t.Helper()
	var ps config.Problems
	out := plugins.Default.Sources("feeds", entries, nil, &ps)
	if len(ps) > 0 {
		t.Fatalf("configuration problems:\n%v", ps)
	}
	if len(out) != len(entries) {
		t.Fatalf("Sources returned %d specs for %d entries", len(out), len(entries))
	}
	return out
}

func start(t *testing.T, files fs.FS, entries ...config.Raw) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(epoch), sink: &sink{}}
	r.sup = plugins.New(plugins.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Clock:   r.clk,
		Sink:    r.sink,
		Files:   files,
		Backoff: backoff.Policy{Initial: time.Second, Max: time.Minute, Factor: 2, Jitter: -1},
		Rand:    func() float64 { return 0 },
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := r.sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.sup.Apply(ctx, specs(t, entries...)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return r
}

// waitTimers waits until n timers wait on the fake clock: the instance (or
// its backoff) is blocked on its next deadline.
func (r *rig) waitTimers(n int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.clk.WaitTimers(ctx, n); err != nil {
		r.t.Fatalf("waiting for %d timer(s) on the fake clock (have %d): %v; status %+v", n, r.clk.Timers(), err, r.sup.Status())
	}
}

// step advances the fake clock by d and waits until the instance waits again.
func (r *rig) step(d time.Duration) {
	r.t.Helper()
	r.clk.Advance(d)
	r.waitTimers(1)
}

// status returns the status of the only instance.
func (r *rig) status() plugins.Status {
	r.t.Helper()
	st := r.sup.Status()
	if len(st) != 1 {
		r.t.Fatalf("Status() = %+v, want one instance", st)
	}
	return st[0]
}

// waitState polls the only instance's status until it reaches state.
func (r *rig) waitState(state plugins.State) plugins.Status {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st := r.status()
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("instance did not reach state %q within %v: %+v", state, wait, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect checks the ticks received so far.
func (r *rig) expect(when string, want ...feeds.Tick) {
	r.t.Helper()
	got := r.sink.got()
	if !sameTicks(got, want) {
		r.t.Fatalf("%s: got %d tick(s):\n%s\nwant %d:\n%s", when, len(got), showTicks(got), len(want), showTicks(want))
	}
}

func sameTicks(a, b []feeds.Tick) bool {
	return slices.EqualFunc(a, b, func(x, y feeds.Tick) bool {
		return x.Source == y.Source && x.Symbol == y.Symbol && x.Price == y.Price && x.Size == y.Size &&
			x.Side == y.Side && x.VenueTime.Equal(y.VenueTime) && x.ReceiveTime.Equal(y.ReceiveTime)
	})
}

func showTicks(ts []feeds.Tick) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "\t{%s %s %v size=%v side=%q venue=+%v recv=+%v}\n", t.Source, t.Symbol, t.Price, t.Size, t.Side,
			t.VenueTime.Sub(epoch), t.ReceiveTime.Sub(epoch))
	}
	return b.String()
}

// at returns tick with its venue and receive time at epoch+d.
func at(d time.Duration, tick feeds.Tick) feeds.Tick {
	tick.VenueTime = epoch.Add(d)
	tick.ReceiveTime = epoch.Add(d)
	return tick
}

func files(m map[string]string) fstest.MapFS {
	out := fstest.MapFS{}
	for name, data := range m {
		out[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return out
}

func entry(kv ...any) config.Raw {
	e := config.Raw{"type": "price.replay"}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

// fourTicks: ETH at 1000, BTC at 1100, ETH at 1300 (no source), BTC at 1600.
const fourTicks = `{"ts":1000,"source":"a","symbol":"ETH-USD","price":1,"size":0.5,"side":"buy"}
{"ts":1100,"source":"b","symbol":"BTC-USD","price":2}
{"ts":1300,"symbol":"ETH-USD","price":3,"side":"sell"}
{"ts":1600,"source":"a","symbol":"BTC-USD","price":4,"size":2}
`

var (
	tick1 = feeds.Tick{Source: "a", Symbol: "ETH-USD", Price: 1, Size: 0.5, Side: feeds.SideBuy}
	tick2 = feeds.Tick{Source: "b", Symbol: "BTC-USD", Price: 2}
	tick3 = feeds.Tick{Source: "r", Symbol: "ETH-USD", Price: 3, Side: feeds.SideSell} // source: the instance id
	tick4 = feeds.Tick{Source: "a", Symbol: "BTC-USD", Price: 4, Size: 2}
)

func TestReplayPacesBySpeed(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		speed   any
		offsets [4]time.Duration // when each of fourTicks is due
	}{
		{speed: 1, offsets: [4]time.Duration{0, 100 * ms, 300 * ms, 600 * ms}},
		{speed: 2, offsets: [4]time.Duration{0, 50 * ms, 150 * ms, 300 * ms}},
		{speed: 10, offsets: [4]time.Duration{0, 10 * ms, 30 * ms, 60 * ms}},
		{speed: 0.5, offsets: [4]time.Duration{0, 200 * ms, 600 * ms, 1200 * ms}},
		{speed: 4, offsets: [4]time.Duration{0, 25 * ms, 75 * ms, 150 * ms}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("speed %v", tt.speed), func(t *testing.T) {
			r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
				entry("id", "r", "file", "ticks.jsonl", "speed", tt.speed, "loop", false))
			all := []feeds.Tick{tick1, tick2, tick3, tick4}
			var want []feeds.Tick

			// The first tick goes out at once; then the instance waits for
			// the second.
			r.waitTimers(1)
			want = append(want, at(0, tick1))
			r.expect("at start", want...)
			if st := r.status(); st.State != plugins.StateRunning || st.Events != 1 {
				t.Fatalf("status at start = %+v, want running with 1 event", st)
			}

			for i := 1; i < 4; i++ {
				if got, due := r.clk.Waiting(), epoch.Add(tt.offsets[i]); len(got) != 1 || !got[0].Equal(due) {
					t.Fatalf("before tick %d: waiting for %v, want [%v]", i+1, got, due)
				}
				gap := tt.offsets[i] - tt.offsets[i-1]
				r.step(gap - time.Millisecond)
				r.expect(fmt.Sprintf("1ms before tick %d", i+1), want...)
				want = append(want, at(tt.offsets[i], all[i]))
				if i == 3 {
					// Without loop the instance finishes after the last tick.
					r.clk.Advance(time.Millisecond)
					break
				}
				r.step(time.Millisecond)
				r.expect(fmt.Sprintf("at tick %d", i+1), want...)
			}
			st := r.waitState(plugins.StateStopped)
			r.expect("at the end", want...)
			if st.Error != "" || st.Events != 4 || st.Restarts != 0 {
				t.Fatalf("final status = %+v, want stopped, 4 events, no error, no restart", st)
			}
			if n := r.clk.Timers(); n != 0 {
				t.Fatalf("%d timer(s) left waiting after the instance finished", n)
			}
		})
	}
}

// twoTicks: ETH at 1000, BTC 200ms later.
const twoTicks = `{"ts":1000,"source":"a","symbol":"ETH-USD","price":1}
{"ts":1200,"source":"a","symbol":"BTC-USD","price":2}
`

var (
	eth = feeds.Tick{Source: "a", Symbol: "ETH-USD", Price: 1}
	btc = feeds.Tick{Source: "a", Symbol: "BTC-USD", Price: 2}
)

func TestReplayLoopRestartsAtTheTop(t *testing.T) {
	ms := time.Millisecond
	r := start(t, files(map[string]string{"ticks.jsonl": twoTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 1, "loop", true))
	r.waitTimers(1)
	want := []feeds.Tick{at(0, eth)}
	r.expect("at start", want...)

	r.step(200 * ms)
	want = append(want, at(200*ms, btc))
	r.expect("at 200ms", want...)

	// The next pass starts one last gap (200ms) after the last tick.
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(400*ms)) {
		t.Fatalf("after the first pass: waiting for %v, want [+400ms]", got)
	}
	r.step(199 * ms)
	r.expect("at 399ms", want...)
	r.step(1 * ms)
	want = append(want, at(400*ms, eth))
	r.expect("at 400ms", want...)
	r.step(200 * ms)
	want = append(want, at(600*ms, btc))
	r.expect("at 600ms", want...)
	r.step(200 * ms)
	want = append(want, at(800*ms, eth))
	r.expect("at 800ms", want...)

	st := r.status()
	if st.State != plugins.StateRunning || st.Events != 5 || st.Restarts != 0 || st.Error != "" {
		t.Fatalf("status = %+v, want running, 5 events, no restart, no error", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := r.status(); st.State != plugins.StateStopped || st.Error != "" {
		t.Fatalf("status after Stop = %+v, want stopped without error", st)
	}
}

// A one-line file loops every second (the default gap).
func TestReplayLoopOneLine(t *testing.T) {
	r := start(t, files(map[string]string{"one.jsonl": `{"ts":1000,"source":"a","symbol":"ETH-USD","price":1}`}),
		entry("id", "r", "file", "one.jsonl"))
	r.waitTimers(1)
	want := []feeds.Tick{at(0, eth)}
	r.expect("at start", want...)
	for i := 1; i <= 3; i++ {
		r.step(999 * time.Millisecond)
		r.expect(fmt.Sprintf("pass %d, 1ms early", i), want...)
		r.step(time.Millisecond)
		want = append(want, at(time.Duration(i)*time.Second, eth))
		r.expect(fmt.Sprintf("pass %d", i), want...)
	}
}

// With speed 2 the whole recording plays twice as fast, including the gap
// before the next pass: ETH at 0, BTC at 100ms, ETH again at 200ms.
func TestReplayLoopGapScaledBySpeed(t *testing.T) {
	ms := time.Millisecond
	r := start(t, files(map[string]string{"ticks.jsonl": twoTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 2, "loop", true))
	r.waitTimers(1)
	r.step(100 * ms)
	r.expect("at 100ms", at(0, eth), at(100*ms, btc))
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(200*ms)) {
		t.Fatalf("after the first pass: waiting for %v, want [+200ms]", got)
	}
	r.step(100 * ms)
	r.expect("at 200ms", at(0, eth), at(100*ms, btc), at(200*ms, eth))
}

func TestReplaySymbolsFilter(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "ticks.jsonl", "loop", false, "symbols", []any{"BTC-USD"}))
	// The first BTC tick (ts 1100) is the start of the pass.
	r.waitTimers(1)
	r.expect("at start", at(0, tick2))
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(500*time.Millisecond)) {
		t.Fatalf("waiting for %v, want [+500ms] (ts 1600 - 1100)", got)
	}
	r.step(499 * time.Millisecond)
	r.expect("at 499ms", at(0, tick2))
	r.clk.Advance(time.Millisecond)
	st := r.waitState(plugins.StateStopped)
	r.expect("at the end", at(0, tick2), at(500*time.Millisecond, tick4))
	if st.Events != 2 || st.Error != "" {
		t.Fatalf("status = %+v, want 2 events, no error", st)
	}
}

func TestReplaySymbolsFilterSeveral(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 0, "loop", false, "symbols", []any{"ETH-USD", "SOL-USD"}))
	r.waitState(plugins.StateStopped)
	r.expect("at the end", at(0, tick1), at(0, tick3))
}

func TestReplaySourceOverride(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 0, "loop", false, "source", "replayed"))
	st := r.waitState(plugins.StateStopped)
	var want []feeds.Tick
	for _, tk := range []feeds.Tick{tick1, tick2, tick3, tick4} {
		tk.Source = "replayed"
		want = append(want, at(0, tk))
	}
	r.expect("at the end", want...)
	if st.Events != 4 {
		t.Fatalf("status = %+v, want 4 events", st)
	}
	// The supervisor attributes events to the instance, whatever the tick's source.
	r.sink.mu.Lock()
	defer r.sink.mu.Unlock()
	for i, src := range r.sink.srcs {
		if src != (plugins.Source{ID: "r", Type: "price.replay"}) {
			t.Fatalf("event %d came from %+v, want {r price.replay}", i, src)
		}
	}
}

// Without an id the instance id is the type, and a line without source is
// reported under it.
func TestReplayDefaultSourceIsInstanceID(t *testing.T) {
	r := start(t, files(map[string]string{"t.jsonl": `{"ts":1,"symbol":"ETH-USD","price":1}`}),
		entry("file", "t.jsonl", "speed", 0, "loop", false))
	r.waitState(plugins.StateStopped)
	r.expect("at the end", at(0, feeds.Tick{Source: "price.replay", Symbol: "ETH-USD", Price: 1}))
}

func TestReplaySkipsBadLines(t *testing.T) {
	const file = `{"ts":500,"symbol":"eth-usd","price":1}
not json

{"ts":1000,"source":"a","symbol":"ETH-USD","price":1}
{"ts":1050,"source":"a","symbol":"ETH-USD","price":-1}
{"ts":1100,"source":"a","symbol":"ETH-USD"}
{"ts":1150,"source":"a","symbol":"ETH-USD","price":9,"side":"up"}
   
{"ts":1200,"source":"a","symbol":"BTC-USD","price":2}
{"ts":0,"source":"a","symbol":"BTC-USD","price":2}`
	r := start(t, files(map[string]string{"ticks.jsonl": file}),
		entry("id", "r", "file", "ticks.jsonl", "loop", false))
	// The first good line (ts 1000) starts the pass; bad lines are not waited for.
	r.waitTimers(1)
	r.expect("at start", at(0, eth))
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(200*time.Millisecond)) {
		t.Fatalf("waiting for %v, want [+200ms]", got)
	}
	r.clk.Advance(200 * time.Millisecond)
	st := r.waitState(plugins.StateStopped)
	r.expect("at the end", at(0, eth), at(200*time.Millisecond, btc))
	if st.Error != "" || st.Events != 2 {
		t.Fatalf("status = %+v, want stopped with 2 events and no error", st)
	}
}

func TestReplayNoUsableLineBacksOff(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		extra []any
	}{
		{name: "empty file", data: ``},
		{name: "blank lines", data: "\n\n\n"},
		{name: "bad lines only", data: "nope\n{\"ts\":1,\"symbol\":\"ETH-USD\",\"price\":0}\n{\"ts\":1,\"symbol\":\"ETH\",\"price\":1}\n"},
		{name: "every line filtered out", data: fourTicks, extra: []any{"symbols", []any{"SOL-USD"}}},
		{name: "speed 0, no loop", data: "nope\n", extra: []any{"speed", 0, "loop", false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, files(map[string]string{"ticks.jsonl": tt.data}),
				entry(append([]any{"id", "r", "file", "ticks.jsonl"}, tt.extra...)...))
			// The only timer is the supervisor's backoff.
			r.waitTimers(1)
			const msg = "replay file ticks.jsonl holds no usable tick"
			st := r.status()
			if st.State != plugins.StateBackoff || st.Error != msg || st.Restarts != 0 || st.Events != 0 ||
				!st.NextAttempt.Equal(epoch.Add(time.Second)) {
				t.Fatalf("status = %+v, want backoff, error %q, next attempt at +1s, no restart, no event", st, msg)
			}
			// It is retried after the backoff, and fails again.
			r.step(time.Second)
			st = r.status()
			if st.State != plugins.StateBackoff || st.Error != msg || st.Restarts != 1 ||
				!st.NextAttempt.Equal(epoch.Add(3*time.Second)) {
				t.Fatalf("status after the retry = %+v, want backoff, error %q, next attempt at +3s, 1 restart", st, msg)
			}
			r.expect("at the end")
		})
	}
}

func TestReplayMissingFileBacksOff(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "data/missing.jsonl"))
	r.waitTimers(1)
	const msg = "open replay file: open data/missing.jsonl: file does not exist"
	st := r.status()
	if st.State != plugins.StateBackoff || st.Error != msg || st.Events != 0 || !st.NextAttempt.Equal(epoch.Add(time.Second)) {
		t.Fatalf("status = %+v, want backoff with error %q, next attempt at +1s", st, msg)
	}
	r.expect("with a missing file")
}

// A file that appears while the instance backs off is picked up on retry.
func TestReplayRetriesUntilFileAppears(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "late.jsonl")
	r := start(t, files(nil), entry("id", "r", "file", name, "speed", 0, "loop", false))
	r.waitTimers(1)
	if st := r.status(); st.State != plugins.StateBackoff || !strings.HasPrefix(st.Error, "open replay file: open "+name+": ") {
		t.Fatalf("status = %+v, want backoff after failing to open %s", st, name)
	}
	if err := os.WriteFile(name, []byte(fourTicks), 0o644); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(time.Second)
	st := r.waitState(plugins.StateStopped)
	if st.Events != 4 || st.Restarts != 1 {
		t.Fatalf("status = %+v, want stopped after 4 events and 1 restart", st)
	}
	want := []feeds.Tick{tick1, tick2, tick3, tick4}
	for i := range want {
		want[i] = at(time.Second, want[i])
	}
	r.expect("after the retry", want...)
}

func TestReplayLineTooLong(t *testing.T) {
	long := `{"ts":1100,"symbol":"ETH-USD","price":1,"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	data := `{"ts":1000,"source":"a","symbol":"ETH-USD","price":1}` + "\n" + long + "\n"
	r := start(t, files(map[string]string{"big.jsonl": data}), entry("id", "r", "file", "big.jsonl", "speed", 0))
	r.waitTimers(1)
	const msg = "read replay file big.jsonl line 2: bufio.Scanner: token too long"
	if st := r.status(); st.State != plugins.StateBackoff || st.Error != msg || st.Events != 1 {
		t.Fatalf("status = %+v, want backoff with error %q after 1 event", st, msg)
	}
	r.expect("before the long line", at(0, eth))
}

func TestReplaySpeedZeroNoLoop(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 0, "loop", false))
	st := r.waitState(plugins.StateStopped)
	r.expect("at the end", at(0, tick1), at(0, tick2), at(0, tick3), at(0, tick4))
	if st.Error != "" || st.Events != 4 || st.Restarts != 0 {
		t.Fatalf("status = %+v, want stopped, 4 events, no error, no restart", st)
	}
	if n := r.clk.Timers(); n != 0 {
		t.Fatalf("%d timer(s) waiting, want none", n)
	}
	if !r.clk.Now().Equal(epoch) {
		t.Fatalf("fake clock moved to %v", r.clk.Now())
	}
}

// Stop while the instance waits for its next tick ends it promptly.
func TestReplayStopWhileWaiting(t *testing.T) {
	r := start(t, files(map[string]string{"ticks.jsonl": fourTicks}),
		entry("id", "r", "file", "ticks.jsonl", "speed", 1, "loop", true))
	r.waitTimers(1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := r.status(); st.State != plugins.StateStopped || st.Events != 1 {
		t.Fatalf("status = %+v, want stopped after 1 event", st)
	}
	r.clk.Advance(time.Hour)
	r.expect("after Stop", at(0, tick1))
}

func TestReplayConfigDefaults(t *testing.T) {
	sp := specs(t, entry("file", "x.jsonl"))
	if sp[0].ID != "price.replay" || sp[0].Type != "price.replay" || sp[0].StallAfter != 0 {
		t.Fatalf("spec = %+v, want id and type price.replay, no stall watch", sp[0])
	}
	cfg, ok := sp[0].Config.(*replay.Config)
	if !ok {
		t.Fatalf("Config is %T, want *replay.Config", sp[0].Config)
	}
	want := replay.Config{File: "x.jsonl", Speed: 1, Loop: true}
	if cfg.File != want.File || cfg.Speed != want.Speed || cfg.Loop != want.Loop || cfg.Source != "" || cfg.Symbols != nil {
		t.Fatalf("Config = %+v, want %+v", *cfg, want)
	}
}

func TestReplayConfigProblems(t *testing.T) {
	const fileDoc = "JSON-lines file of ticks (ts ms, source, symbol, price, size, side); relative to the configuration file's folder"
	tests := []struct {
		name  string
		entry config.Raw
		want  []config.Problem
	}{
		{
			name:  "bad symbols",
			entry: entry("file", "x.jsonl", "symbols", []any{"ETH-USD", "eth-usd", "BTCUSD"}),
			want: []config.Problem{
				{Path: "feeds[0].symbols[1]", Msg: `symbol "eth-usd": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
				{Path: "feeds[0].symbols[2]", Msg: `symbol "BTCUSD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
			},
		},
		{
			name:  "negative speed",
			entry: entry("file", "x.jsonl", "speed", -1),
			want:  []config.Problem{{Path: "feeds[0].speed", Msg: "-1 is too small; want at least 0"}},
		},
		{
			name:  "fractional negative speed",
			entry: entry("file", "x.jsonl", "speed", -0.5),
			want:  []config.Problem{{Path: "feeds[0].speed", Msg: "-0.5 is too small; want at least 0"}},
		},
		{
			name:  "speed too large",
			entry: entry("file", "x.jsonl", "speed", 2000000),
			want:  []config.Problem{{Path: "feeds[0].speed", Msg: "2e+06 is too large; want at most 1000000"}},
		},
		{
			name:  "missing file",
			entry: entry(),
			want:  []config.Problem{{Path: "feeds[0].file", Msg: "required (" + fileDoc + ")"}},
		},
		{
			name:  "empty file",
			entry: entry("file", ""),
			want:  []config.Problem{{Path: "feeds[0].file", Msg: "required, got an empty value (" + fileDoc + ")"}},
		},
		{
			name:  "speed not a number",
			entry: entry("file", "x.jsonl", "speed", "fast"),
			want:  []config.Problem{{Path: "feeds[0].speed", Msg: `want a number, got "fast"`}},
		},
		{
			name:  "symbols not a list",
			entry: entry("file", "x.jsonl", "symbols", map[string]any{"a": 1}),
			want:  []config.Problem{{Path: "feeds[0].symbols", Msg: "want a list, got a mapping"}},
		},
		{
			name:  "everything at once",
			entry: entry("speed", -2, "symbols", []any{"x"}),
			want: []config.Problem{
				{Path: "feeds[0].file", Msg: "required (" + fileDoc + ")"},
				{Path: "feeds[0].speed", Msg: "-2 is too small; want at least 0"},
				{Path: "feeds[0].symbols[0]", Msg: `symbol "x": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps config.Problems
			out := plugins.Default.Sources("feeds", []config.Raw{tt.entry}, nil, &ps)
			if len(out) != 0 {
				t.Errorf("Sources returned %d spec(s) for an entry with problems", len(out))
			}
			if !slices.Equal(ps, tt.want) {
				t.Fatalf("problems:\n%v\nwant:\n%v", ps, config.Problems(tt.want))
			}
		})
	}
}

func TestReplayConfigUnknownKey(t *testing.T) {
	var ps config.Problems
	plugins.Default.Sources("feeds", []config.Raw{entry("file", "x.jsonl", "sped", 2)}, nil, &ps)
	if len(ps) != 1 || ps[0].Path != "feeds[0].sped" || !strings.HasPrefix(ps[0].Msg, `unknown key; did you mean "speed"?`) {
		t.Fatalf("problems = %v, want one unknown key at feeds[0].sped suggesting speed", ps)
	}
}

// exampleEntries reads the YAML example the way the daemon reads feeds:.
func exampleEntries(t *testing.T, text string) []config.Raw {
	t.Helper()
	var list []map[string]any
	if err := yaml.Unmarshal([]byte(text), &list); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	entries := make([]config.Raw, len(list))
	for i, m := range list {
		entries[i] = config.Raw(m)
	}
	return entries
}

func TestExample(t *testing.T) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typ, ok := plugins.Default.Lookup("price.replay")
	if !ok {
		t.Fatal("price.replay is not registered with plugins.Default")
	}
	if typ.Kind != plugins.KindSource || typ.Example != string(data) {
		t.Fatalf("registered type: kind %q, example matches example.yaml: %v", typ.Kind, typ.Example == string(data))
	}

	entries := exampleEntries(t, typ.Example)
	var ps config.Problems
	out := plugins.Default.Sources("feeds", entries, nil, &ps)
	if len(ps) > 0 {
		t.Fatalf("example has problems:\n%v", ps)
	}
	if len(out) != 1 {
		t.Fatalf("example gives %d specs, want 1", len(out))
	}
	cfg := out[0].Config.(*replay.Config)
	if out[0].ID != "demo" || cfg.File != "data/demo-ticks.jsonl" || cfg.Speed != 10 || !cfg.Loop {
		t.Fatalf("example spec %+v with config %+v, want demo playing data/demo-ticks.jsonl at speed 10 in a loop", out[0], *cfg)
	}
}

// The example runs against the embedded configs, where its file lives.
func TestExampleRunsOnEmbeddedConfigs(t *testing.T) {
	typ, _ := plugins.Default.Lookup("price.replay")
	r := start(t, configs.FS, exampleEntries(t, typ.Example)...)
	r.waitTimers(1)
	// First two lines of configs/data/demo-ticks.jsonl: ts ...509 and ...540,
	// 31ms apart, 3.1ms at speed 10.
	r.expect("at start", at(0, feeds.Tick{Source: "coinbase", Symbol: "BTC-USD", Price: 97223.0, Size: 0.0112, Side: feeds.SideSell}))
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(3100*time.Microsecond)) {
		t.Fatalf("waiting for %v, want [+3.1ms]", got)
	}
	r.step(3100 * time.Microsecond)
	r.expect("at 3.1ms",
		at(0, feeds.Tick{Source: "coinbase", Symbol: "BTC-USD", Price: 97223.0, Size: 0.0112, Side: feeds.SideSell}),
		at(3100*time.Microsecond, feeds.Tick{Source: "kraken", Symbol: "BTC-USD", Price: 97212.14, Size: 0.0076, Side: feeds.SideSell}))
	if st := r.status(); st.ID != "demo" || st.State != plugins.StateRunning {
		t.Fatalf("status = %+v, want demo running", st)
	}
}

// The file is "relative to the configuration file's folder", which the daemon
// hands over as os.DirFS; a name such as "./ticks.jsonl" should work there.
func TestReplayDotRelativeFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ticks.jsonl"), []byte(fourTicks), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, os.DirFS(dir), entry("id", "r", "file", "./ticks.jsonl", "speed", 0, "loop", false))
	st := r.waitState(plugins.StateStopped)
	if st.Events != 4 || st.Error != "" {
		t.Fatalf("status = %+v, want stopped after 4 events", st)
	}
}

// Apply keeps the old instance when its replacement fails before it is ready:
// a replay instance is ready with its first tick, so a reload onto a file
// with no usable tick keeps the working instance.
func TestReplayReloadToUnusableFileKeepsOld(t *testing.T) {
	fsys := files(map[string]string{"good.jsonl": fourTicks, "bad.jsonl": "nope\n"})
	r := start(t, fsys, entry("id", "r", "file", "good.jsonl"))
	r.waitTimers(1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.sup.Apply(ctx, specs(t, entry("id", "r", "file", "bad.jsonl"))); err == nil {
		t.Error("Apply onto a file with no usable tick = nil, want an error")
	}
	if st := r.status(); st.State != plugins.StateRunning || st.ReloadError == "" {
		t.Fatalf("status = %+v, want the old instance running with a reload error", st)
	}
}
