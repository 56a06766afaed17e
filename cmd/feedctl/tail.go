package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/feedd/feedd/channels/client"
)

const tailUsage = `usage: feedctl tail [--url URL] [--token T] [--pretty] CHANNEL…

Subscribes to the channels and prints every update as one JSON line
  {"channel":…,"offset":…,"ts":…,"data":…}
and a snapshot the daemon sends (at subscribe time, or after a reconnect
that could not recover what was missed) as
  {"channel":…,"offset":…,"snapshot":…}
When the connection is lost it reconnects and recovers the missed updates.
Connection news goes to stderr. Stops on SIGINT or SIGTERM (exit 0).

flags:
`

// cmdTail is "feedctl tail": tail until SIGINT or SIGTERM.
func cmdTail(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return tail(ctx, args, stdout, stderr)
}

// tail runs "feedctl tail" until ctx ends (exit 0), a subscription is
// refused or every subscription ended (1), or the arguments are wrong (2).
func tail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	errw := &syncWriter{w: stderr}
	fs := flag.NewFlagSet("feedctl tail", flag.ContinueOnError)
	fs.SetOutput(errw)
	wsURL := fs.String("url", "ws://127.0.0.1:8080/ws", "the daemon's WebSocket `URL`")
	token := fs.String("token", "", "a `token` (JWT) for channels that need one (default $FEEDD_TOKEN)")
	pretty := fs.Bool("pretty", false, "print an aligned table line per update (time, channel, offset, price or JSON)")
	fs.Usage = func() {
		fmt.Fprint(errw, tailUsage)
		fs.PrintDefaults()
	}
	names, code := tailParse(fs, args)
	if code >= 0 {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(errw, "feedctl tail: "+format+"\n", a...)
		return 2
	}
	if len(names) == 0 {
		fail("want at least one CHANNEL")
		fs.Usage()
		return 2
	}
	seen := map[string]bool{}
	width := 0
	for _, n := range names {
		if ns, rest, ok := strings.Cut(n, ":"); !ok || ns == "" || rest == "" {
			return fail("bad channel %q: want <namespace>:<name>, e.g. prices:ETH-USD", n)
		}
		if seen[n] {
			return fail("channel %q given twice", n)
		}
		seen[n] = true
		width = max(width, len(n))
	}
	if u, err := url.Parse(*wsURL); err != nil || u.Host == "" ||
		(u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return fail("--url %q: want ws://host:port/ws", *wsURL)
	}
	if *token == "" {
		*token = os.Getenv("FEEDD_TOKEN")
	}

	p := &tailPrinter{w: stdout, pretty: *pretty, width: width, failed: make(chan struct{})}
	var lastNews string
	news := func(msg string) { // connection news, each once in a row
		if msg != lastNews {
			lastNews = msg
			fmt.Fprintf(errw, "feedctl tail: %s\n", msg)
		}
	}
	logger := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	c, err := client.Dial(ctx, client.Options{
		URL:    *wsURL,
		Token:  *token,
		Logger: logger,
		OnState: func(st client.State, err error) {
			switch st {
			case client.Connected:
				news("connected to " + *wsURL)
			case client.Disconnected:
				news(fmt.Sprintf("disconnected: %v; reconnecting", err))
			}
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		return fail("%v", err)
	}
	defer c.Close()

	ended := make(chan *client.Subscription, len(names))
	for _, name := range names {
		h := client.HandlerFuncs{
			Update:   p.update,
			Snapshot: p.snapshot,
			Recovered: func(r client.Recovery) {
				if !r.Recovered {
					news(fmt.Sprintf("%s: the daemon no longer holds what was missed after offset %d (epoch %s); continuing from offset %d (epoch %s)",
						r.Channel, r.Since.Offset, r.Since.Epoch, r.Latest.Offset, r.Latest.Epoch))
				}
			},
		}
		sub, err := c.Subscribe(ctx, name, h)
		if err != nil {
			if ctx.Err() != nil {
				return 0 // interrupted while waiting for the daemon
			}
			fmt.Fprintf(errw, "feedctl tail: subscribe %s: %v\n", name, err)
			return 1
		}
		go func() {
			<-sub.Done()
			ended <- sub
		}()
	}
	for left := len(names); ; {
		select {
		case <-ctx.Done():
			c.Close() // no output after this
			return p.exitCode(errw)
		case <-p.failed:
			c.Close()
			return p.exitCode(errw)
		case sub := <-ended:
			if err := sub.Err(); err != nil && !errors.Is(err, client.ErrClosed) {
				fmt.Fprintf(errw, "feedctl tail: %s: subscription ended: %v\n", sub.Channel(), err)
			}
			if left--; left == 0 {
				c.Close()
				p.exitCode(errw)
				return 1
			}
		}
	}
}

// tailParse parses flags, which may come before, between or after the
// channels ("--" ends them). code is -1 to go on, or the exit code.
func tailParse(fs *flag.FlagSet, args []string) (names []string, code int) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return names, -1
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(names, rest...), -1
		}
		names = append(names, rest[0])
		args = rest[1:]
	}
}

// tailPrinter writes updates and snapshots, one line each.
type tailPrinter struct {
	w      io.Writer
	pretty bool
	width  int // of the channel column
	buf    bytes.Buffer
	err    error // the first write error
	failed chan struct{}
}

// tailUpdateLine and tailSnapshotLine are the JSON lines, fields in order.
type tailUpdateLine struct {
	Channel string          `json:"channel"`
	Offset  uint64          `json:"offset"`
	TS      int64           `json:"ts"`
	Data    json.RawMessage `json:"data"`
}

type tailSnapshotLine struct {
	Channel  string          `json:"channel"`
	Offset   uint64          `json:"offset"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// update and snapshot run on the client's handler goroutine, one at a time.
func (p *tailPrinter) update(u client.Update) {
	if p.pretty {
		p.line(time.UnixMilli(u.TS).Format("15:04:05.000"), u.Channel, u.Offset, u.Data)
		return
	}
	p.json(tailUpdateLine{Channel: u.Channel, Offset: u.Offset, TS: u.TS, Data: u.Data})
}

func (p *tailPrinter) snapshot(s client.Snapshot) {
	if p.pretty {
		p.line("snapshot", s.Channel, s.Offset, s.Data)
		return
	}
	p.json(tailSnapshotLine{Channel: s.Channel, Offset: s.Offset, Snapshot: s.Data})
}

func (p *tailPrinter) json(v any) {
	p.buf.Reset()
	enc := json.NewEncoder(&p.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// The daemon checks that data is JSON; this would be a bug there.
		fmt.Fprintf(&p.buf, `{"error":%q}`+"\n", err.Error())
	}
	p.write()
}

// line writes a table line: time, channel, offset, then the price of a
// prices channel or the compact JSON of anything else.
func (p *tailPrinter) line(when, channel string, offset uint64, data json.RawMessage) {
	p.buf.Reset()
	fmt.Fprintf(&p.buf, "%-12s  %-*s  %8d  %s\n", when, p.width, channel, offset, tailValue(channel, data))
	p.write()
}

func (p *tailPrinter) write() {
	if p.err != nil {
		return
	}
	if _, err := p.w.Write(p.buf.Bytes()); err != nil {
		p.err = err
		close(p.failed)
	}
}

// exitCode reports a write error; call it once the client is closed.
func (p *tailPrinter) exitCode(stderr io.Writer) int {
	if p.err != nil {
		fmt.Fprintf(stderr, "feedctl tail: writing the output: %v\n", p.err)
		return 1
	}
	return 0
}

// tailValue is the value column of a table line.
func tailValue(channel string, data json.RawMessage) string {
	if len(data) == 0 {
		return "-"
	}
	if strings.HasPrefix(channel, "prices:") {
		var v struct {
			Price *float64 `json:"price"`
			Stale bool     `json:"stale"`
		}
		if json.Unmarshal(data, &v) == nil && v.Price != nil {
			s := strconv.FormatFloat(*v.Price, 'f', -1, 64)
			if v.Stale {
				s += " (stale)"
			}
			return s
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, data) != nil {
		return string(data)
	}
	return b.String()
}
