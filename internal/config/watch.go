package config

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch blocks until ctx ends, calling changed whenever the file at path is
// written, replaced (editors and Kubernetes ConfigMaps swap files by rename
// or symlink) or re-created. Bursts of events within settle are reported
// once, settle after the last. It watches the file's directory, so the file
// may be absent for a while. It returns nil when ctx ends, or the error that
// stopped watching.
//
// viper's own WatchConfig is not used: its goroutines cannot be stopped, it
// exits the process when the watcher cannot be made, and it stops watching
// for good after the file is removed once.
func Watch(ctx context.Context, path string, settle time.Duration, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer w.Close()
	file := filepath.Clean(path)
	dir := filepath.Dir(file)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	real, _ := filepath.EvalSymlinks(file)
	// A symlinked file may live elsewhere: watch its folder too, so that
	// writes through the link are seen.
	watched := map[string]bool{dir: true}
	watchReal := func() {
		if real == "" {
			return
		}
		if d := filepath.Dir(real); !watched[d] && w.Add(d) == nil {
			watched[d] = true
		}
	}
	watchReal()
	var (
		timer   *time.Timer
		timeout <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			cur, _ := filepath.EvalSymlinks(file)
			name := filepath.Clean(ev.Name)
			relevant := (name == file || real != "" && name == real) && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0
			if cur != "" && cur != real {
				relevant, real = true, cur
				watchReal()
			}
			if !relevant {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			timeout = timer.C
		case <-timeout:
			timeout = nil
			changed()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return fmt.Errorf("watch %s: %w", path, err)
		}
	}
}
