// Package replay is the price.replay plugin: it plays a JSON-lines file of
// recorded ticks at recorded or scaled speed, for demos and tests.
package replay

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is price.replay's configuration.
type Config struct {
	File    string   `yaml:"file" required:"true" doc:"JSON-lines file of ticks (ts ms, source, symbol, price, size, side); relative to the configuration file's folder"`
	Speed   float64  `yaml:"speed" default:"1" min:"0" max:"1000000" doc:"playback speed: 1 as recorded, 10 ten times faster, 0 as fast as possible"`
	Loop    bool     `yaml:"loop" default:"true" doc:"start again from the top at the end of the file"`
	Source  string   `yaml:"source" doc:"report every tick under this source id; default: each line's source, else the instance id"`
	Symbols []string `yaml:"symbols" doc:"replay only these symbols (BASE-QUOTE); default all"`
}

// Validate checks the file name and the symbols.
func (c *Config) Validate(v *config.Validation) {
	if c.File != "" && !filepath.IsAbs(c.File) && !fs.ValidPath(path.Clean(filepath.ToSlash(c.File))) {
		v.Errorf("file", "%q leaves the configuration file's folder; use an absolute path", c.File)
	}
	for i, s := range c.Symbols {
		if _, _, err := feeds.ParseSymbol(s); err != nil {
			v.Errorf(fmt.Sprintf("symbols[%d]", i), "%v", err)
		}
	}
}

//go:embed example.yaml
var example string

// maxLine bounds one line of a replay file.
const maxLine = 64 << 10

func init() {
	plugins.Register(plugins.Type{
		Name:       "price.replay",
		Kind:       plugins.KindSource,
		Doc:        "plays a JSON-lines file of recorded ticks at recorded or scaled speed (demos, tests)",
		Config:     func() any { return &Config{} },
		Example:    example,
		StallAfter: 0,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			return &Replay{cfg: *cfg.(*Config), files: env.Files}, nil
		},
	})
}

// Replay plays one file.
type Replay struct {
	cfg   Config
	files fs.FS
}

func (r *Replay) open() (io.ReadCloser, error) {
	if filepath.IsAbs(r.cfg.File) || r.files == nil {
		return os.Open(r.cfg.File)
	}
	return r.files.Open(path.Clean(filepath.ToSlash(r.cfg.File)))
}

// Run plays the file until ctx ends (or the file ends, without loop).
func (r *Replay) Run(ctx context.Context, h *plugins.Host) error {
	clk := h.Clock()
	var (
		start    time.Time // wall time that the first record of this pass maps to
		first    int64     // ts of the first record of this pass
		lastGap  = time.Second
		timer    = clk.NewTimer(0)
		lastTS   int64
		passBase time.Time
	)
	defer timer.Stop()
	for pass := 0; ; pass++ {
		f, err := r.open()
		if err != nil {
			return fmt.Errorf("open replay file: %w", err)
		}
		// Ready comes with the first tick (Emit): a file with no usable
		// line must not count as a working replacement on reload.
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), maxLine)
		passEmitted, line := 0, 0
		first = 0
		for sc.Scan() {
			line++
			if len(sc.Bytes()) == 0 {
				continue
			}
			rec, err := ParseRecord(sc.Bytes())
			if err != nil {
				h.Logger().Warn("skipping bad replay line", "file", r.cfg.File, "line", line, "error", err)
				continue
			}
			if len(r.cfg.Symbols) > 0 && !slices.Contains(r.cfg.Symbols, rec.Symbol) {
				continue
			}
			if first == 0 {
				first = rec.TS
				switch {
				case pass == 0:
					start = clk.Now()
				case r.cfg.Speed > 0:
					start = passBase.Add(time.Duration(float64(lastGap) / r.cfg.Speed))
				default:
					start = passBase
				}
			} else if rec.TS > lastTS {
				lastGap = time.Duration(rec.TS-lastTS) * time.Millisecond
			}
			lastTS = rec.TS
			offset := time.Duration(max(0, rec.TS-first)) * time.Millisecond
			due := start
			if r.cfg.Speed > 0 {
				due = start.Add(time.Duration(float64(offset) / r.cfg.Speed))
			}
			if wait := due.Sub(clk.Now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C():
				case <-ctx.Done():
					f.Close()
					return nil
				}
			} else if ctx.Err() != nil {
				f.Close()
				return nil
			}
			passBase = due
			now := clk.Now()
			src := r.cfg.Source
			if src == "" {
				src = rec.Source
			}
			if src == "" {
				src = h.ID()
			}
			h.Emit(feeds.Tick{
				Source:      src,
				Symbol:      rec.Symbol,
				Price:       rec.Price,
				Size:        rec.Size,
				Side:        rec.Side,
				VenueTime:   due,
				ReceiveTime: now,
			})
			passEmitted++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("read replay file %s line %d: %w", r.cfg.File, line+1, err)
		}
		if passEmitted == 0 {
			return errors.New("replay file " + r.cfg.File + " holds no usable tick")
		}
		if !r.cfg.Loop {
			return nil
		}
		if r.cfg.Speed == 0 && ctx.Err() != nil {
			return nil
		}
	}
}
