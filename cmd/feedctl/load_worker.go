package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"
)

// A process may open only so many connections (the open-file limit), so for
// more the load command runs itself again as worker processes, each with a
// share of the connections. A worker speaks JSON lines: it writes
// {"ready":…} once its connections are subscribed, waits for commands on
// stdin ({"stop":true} to cut connecting short, {"drain":…} once the
// publisher stopped, {"finish":true} for the result) and writes
// {"drained":true} and {"result":…}.

// workerEnv marks a worker process (tests use it to run the command from
// the test binary).
const workerEnv = "FEEDCTL_WORKER"

type workerCmd struct {
	Stop    bool     `json:"stop,omitempty"`
	Drain   bool     `json:"drain,omitempty"`
	Final   []uint64 `json:"final,omitempty"`
	IdleMs  int64    `json:"idle_ms,omitempty"`
	Finish  bool     `json:"finish,omitempty"`
	Publish bool     `json:"publish,omitempty"` // Final is meaningful
}

type workerMsg struct {
	Ready   *readyInfo   `json:"ready,omitempty"`
	Drained bool         `json:"drained,omitempty"`
	Result  *groupResult `json:"result,omitempty"`
}

// connGroup is a group of connections, in this process or in a worker.
type connGroup interface {
	// ready waits until the group's connections are subscribed; when ctx
	// ends, connecting stops early.
	ready(ctx context.Context) (readyInfo, error)
	// drain waits for the final offsets (nil: nothing was published).
	drain(ctx context.Context, final []uint64, idle time.Duration) error
	// result closes the connections and returns what they measured.
	result(final []uint64) (groupResult, error)
	// kill ends the group at once.
	kill()
}

// localGroup runs its connections in this process.
type localGroup struct {
	g       *group
	readyCh chan readyInfo
}

func startLocal(ctx context.Context, cfg groupConfig) *localGroup {
	l := &localGroup{g: newGroup(cfg), readyCh: make(chan readyInfo, 1)}
	go func() { l.readyCh <- l.g.connect(ctx) }()
	return l
}

func (l *localGroup) ready(context.Context) (readyInfo, error) { return <-l.readyCh, nil }

func (l *localGroup) drain(ctx context.Context, final []uint64, idle time.Duration) error {
	l.g.drain(ctx, final, idle)
	return nil
}

func (l *localGroup) result(final []uint64) (groupResult, error) { return l.g.result(final), nil }

func (l *localGroup) kill() { l.g.close() }

// remoteGroup is a worker process.
type remoteGroup struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	msgs chan workerMsg
	wmu  sync.Mutex
	err  error
	done chan struct{}
}

func startWorker(exe string, args []string, stderr io.Writer) (*remoteGroup, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	r := &remoteGroup{cmd: cmd, in: in, msgs: make(chan workerMsg, 4), done: make(chan struct{})}
	go func() {
		defer close(r.msgs)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var m workerMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				r.err = fmt.Errorf("worker %d: bad line %.100q: %v", cmd.Process.Pid, sc.Text(), err)
				continue
			}
			r.msgs <- m
		}
	}()
	return r, nil
}

func (r *remoteGroup) send(c workerCmd) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err := r.in.Write(append(mustJSON(c), '\n'))
	return err
}

// next returns the worker's next message, or an error when it ended.
func (r *remoteGroup) next(ctx context.Context, stopOnCancel bool) (workerMsg, error) {
	c := ctx.Done()
	for {
		select {
		case m, ok := <-r.msgs:
			if !ok {
				err := r.wait()
				if err == nil {
					err = fmt.Errorf("worker %d ended without an answer", r.cmd.Process.Pid)
				}
				return workerMsg{}, err
			}
			return m, nil
		case <-c:
			c = nil
			if stopOnCancel {
				_ = r.send(workerCmd{Stop: true})
			}
		}
	}
}

func (r *remoteGroup) wait() error {
	select {
	case <-r.done:
		return r.err
	default:
	}
	err := r.cmd.Wait()
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("worker %d: %w", r.cmd.Process.Pid, err)
	}
	close(r.done)
	return r.err
}

func (r *remoteGroup) ready(ctx context.Context) (readyInfo, error) {
	m, err := r.next(ctx, true)
	if err != nil {
		return readyInfo{}, err
	}
	if m.Ready == nil {
		return readyInfo{}, fmt.Errorf("worker %d: expected ready", r.cmd.Process.Pid)
	}
	return *m.Ready, nil
}

func (r *remoteGroup) drain(ctx context.Context, final []uint64, idle time.Duration) error {
	if err := r.send(workerCmd{Drain: true, Final: final, Publish: final != nil, IdleMs: idle.Milliseconds()}); err != nil {
		return err
	}
	m, err := r.next(context.Background(), false)
	if err != nil {
		return err
	}
	if !m.Drained {
		return fmt.Errorf("worker %d: expected drained", r.cmd.Process.Pid)
	}
	return nil
}

func (r *remoteGroup) result([]uint64) (groupResult, error) {
	if err := r.send(workerCmd{Finish: true}); err != nil {
		return groupResult{}, err
	}
	m, err := r.next(context.Background(), false)
	if err != nil {
		return groupResult{}, err
	}
	_ = r.in.Close()
	if err := r.wait(); err != nil {
		return groupResult{}, err
	}
	if m.Result == nil {
		return groupResult{}, fmt.Errorf("worker %d: expected a result", r.cmd.Process.Pid)
	}
	m.Result.fromJSON()
	return *m.Result, nil
}

func (r *remoteGroup) kill() {
	_ = r.in.Close()
	_ = r.cmd.Process.Kill()
	_ = r.wait()
}

// syncWriter serialises writes from several goroutines (worker stderr copiers, the tail client).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// runWorker is the worker process's side.
func runWorker(cfg groupConfig, stdin io.Reader, stdout io.Writer) int {
	signal.Ignore(os.Interrupt) // the parent decides when to stop
	raiseFileLimit()
	g := newGroup(cfg)
	cmds := make(chan workerCmd, 4)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var c workerCmd
			if json.Unmarshal(sc.Bytes(), &c) == nil {
				cmds <- c
			}
		}
	}()
	write := func(m workerMsg) bool {
		_, err := stdout.Write(append(mustJSON(m), '\n'))
		return err == nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readyCh := make(chan readyInfo, 1)
	go func() { readyCh <- g.connect(ctx) }()
	var pending []workerCmd
	var ri readyInfo
wait:
	for {
		select {
		case ri = <-readyCh:
			break wait
		case c, ok := <-cmds:
			if !ok {
				cancel()
				<-readyCh
				g.close()
				return 1
			}
			cancel()
			if !c.Stop {
				pending = append(pending, c)
			}
		}
	}
	if !write(workerMsg{Ready: &ri}) {
		g.close()
		return 1
	}
	var final []uint64
	next := func() (workerCmd, bool) {
		if len(pending) > 0 {
			c := pending[0]
			pending = pending[1:]
			return c, true
		}
		c, ok := <-cmds
		return c, ok
	}
	for {
		c, ok := next()
		if !ok {
			g.close()
			return 1
		}
		switch {
		case c.Drain:
			if c.Publish {
				final = c.Final
				if final == nil {
					final = []uint64{}
				}
			}
			g.drain(context.Background(), final, time.Duration(c.IdleMs)*time.Millisecond)
			if !write(workerMsg{Drained: true}) {
				g.close()
				return 1
			}
		case c.Finish:
			res := g.result(final)
			if !write(workerMsg{Result: &res}) {
				return 1
			}
			return 0
		}
	}
}
