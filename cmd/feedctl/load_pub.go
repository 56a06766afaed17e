package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The publisher posts batches of publications to POST /api/v1/publish over
// a few keep-alive HTTP connections. Each publication's data is
// {"t":<unix nanoseconds when the batch was built>,"p":"<padding>"}, so a
// receiver can measure publish-to-receipt latency; publications go to the
// channels in turn.

type pubConfig struct {
	api      string // http base URL
	key      string
	names    []string
	rate     float64 // publications per second in total; 0: as fast as possible
	duration time.Duration
	size     int // bytes of data per publication
	batch    int // publications per request at most
	workers  int // concurrent requests
}

type pubResult struct {
	Sent       uint64   // publications the daemon accepted
	Errors     uint64   // publications refused or failed
	FirstError string   // the first failure
	Fatal      bool     // the daemon refused outright (4xx): publishing stopped
	PerChan    []uint64 // accepted per channel
	Final      []uint64 // newest offset per channel
	Elapsed    time.Duration
	Requests   uint64
}

type publisher struct {
	cfg    pubConfig
	client *http.Client
	url    string
	index  map[string]int
	pad    string
	seq    atomic.Uint64

	mu  sync.Mutex
	res pubResult

	cancel context.CancelFunc
}

// maxPublishBody stays under the daemon's 1 MiB bound on a publish body.
const maxPublishBody = 900 << 10

func newPublisher(cfg pubConfig) *publisher {
	if cfg.workers <= 0 {
		cfg.workers = 2
	}
	if cfg.batch <= 0 {
		cfg.batch = 50
	}
	per := cfg.size + len(`{"channel":"","data":{"t":1234567890123456789,"p":""}},`) + 64
	cfg.batch = max(1, min(cfg.batch, maxPublishBody/per))
	d := loopbackDialer()
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        cfg.workers,
		MaxIdleConnsPerHost: cfg.workers,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
	p := &publisher{
		cfg:    cfg,
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		url:    strings.TrimRight(cfg.api, "/") + "/api/v1/publish",
		index:  make(map[string]int, len(cfg.names)),
		pad:    strings.Repeat("x", max(0, cfg.size-len(`{"t":1234567890123456789,"p":""}`))),
	}
	for i, n := range cfg.names {
		p.index[n] = i
	}
	p.res.PerChan = make([]uint64, len(cfg.names))
	p.res.Final = make([]uint64, len(cfg.names))
	return p
}

// run publishes until the duration is over (or, at a fixed rate, until
// rate×duration publications have been handed out) or ctx ends.
func (p *publisher) run(ctx context.Context) pubResult {
	ctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	if p.cfg.rate <= 0 {
		end := start.Add(p.cfg.duration)
		for w := 0; w < p.cfg.workers; w++ {
			wg.Go(func() {
				var body []byte
				for ctx.Err() == nil && time.Now().Before(end) {
					body = p.post(ctx, body, p.cfg.batch)
				}
			})
		}
		wg.Wait()
	} else {
		jobs := make(chan int, p.cfg.workers)
		for w := 0; w < p.cfg.workers; w++ {
			wg.Go(func() {
				var body []byte
				for n := range jobs {
					if ctx.Err() == nil {
						body = p.post(ctx, body, n)
					}
				}
			})
		}
		p.schedule(ctx, start, jobs)
		close(jobs)
		wg.Wait()
		// The last publication is due a little before the end: the phase
		// lasts the whole duration all the same.
		if d := time.Until(start.Add(p.cfg.duration)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
	}
	p.client.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Elapsed = time.Since(start)
	return p.res
}

// schedule hands out publication counts to the workers, evenly over time:
// publication k is due at start + k/rate.
func (p *publisher) schedule(ctx context.Context, start time.Time, jobs chan<- int) {
	rate := p.cfg.rate
	total := int(math.Round(rate * p.cfg.duration.Seconds()))
	iv := time.Duration(float64(time.Second) / rate)
	iv = max(iv, 5*time.Millisecond)
	// Publishing that falls behind may run a little over the duration, no more.
	stop := start.Add(p.cfg.duration + iv + 100*time.Millisecond)
	t := time.NewTicker(iv)
	defer t.Stop()
	sent := 0
	for sent < total {
		el := time.Since(start)
		due := min(total, int(rate*el.Seconds())+1)
	dispatch:
		for sent < due {
			n := min(due-sent, p.cfg.batch)
			select {
			case jobs <- n:
				sent += n
			default:
				break dispatch // the workers are busy: catch up next tick
			}
		}
		if sent >= total || time.Now().After(stop) {
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// post sends one batch of n publications, reusing body's memory.
func (p *publisher) post(ctx context.Context, body []byte, n int) []byte {
	first := p.seq.Add(uint64(n)) - uint64(n)
	now := time.Now().UnixNano()
	body = append(body[:0], `{"publications":[`...)
	for j := 0; j < n; j++ {
		if j > 0 {
			body = append(body, ',')
		}
		ch := p.cfg.names[(first+uint64(j))%uint64(len(p.cfg.names))]
		body = append(body, `{"channel":`...)
		body = strconv.AppendQuote(body, ch)
		body = append(body, `,"data":{"t":`...)
		body = strconv.AppendInt(body, now, 10)
		body = append(body, `,"p":"`...)
		body = append(body, p.pad...)
		body = append(body, `"}}`...)
	}
	body = append(body, `]}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		p.fail(n, err.Error(), true)
		return body
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.cfg.key)
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			p.fail(n, err.Error(), false)
		}
		return body
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := apiErrorText(resp)
		p.fail(n, fmt.Sprintf("POST /api/v1/publish: %s: %s", resp.Status, msg), resp.StatusCode < 500)
		return body
	}
	var out struct {
		Results []struct {
			Channel string `json:"channel"`
			Offset  uint64 `json:"offset"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		p.fail(n, "decode publish answer: "+err.Error(), false)
		return body
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	p.mu.Lock()
	p.res.Requests++
	for _, r := range out.Results {
		i, ok := p.index[r.Channel]
		if !ok {
			continue
		}
		p.res.Sent++
		p.res.PerChan[i]++
		p.res.Final[i] = max(p.res.Final[i], r.Offset)
	}
	if lost := n - len(out.Results); lost > 0 {
		p.res.Errors += uint64(lost)
	}
	p.mu.Unlock()
	return body
}

// fail counts n failed publications; a fatal failure stops publishing.
func (p *publisher) fail(n int, msg string, fatal bool) {
	p.mu.Lock()
	p.res.Errors += uint64(n)
	if p.res.FirstError == "" {
		p.res.FirstError = msg
	}
	if fatal {
		p.res.Fatal = true
	}
	p.mu.Unlock()
	if fatal {
		p.cancel()
	}
}

// apiErrorText returns the error message of an API answer: the "error"
// field of its JSON body, or the body itself.
func apiErrorText(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		s = "(no body)"
	}
	return s
}
