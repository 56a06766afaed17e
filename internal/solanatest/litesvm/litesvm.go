// Package litesvm runs a Solana JSON-RPC and pubsub facade over LiteSVM (a
// real Solana virtual machine running in-process in Node.js) for integration
// tests, and builds real, signed SOL and SPL token transactions against it
// with solana-go.
//
// The facade (server.js next to this file) executes each transaction at once
// and puts it in a block of its own; every slot is processed, confirmed and
// finalized as soon as it exists. It needs node (>= 20) and npm on PATH;
// Start installs the npm dependencies (npm ci) when node_modules is missing
// or older than package-lock.json.
package litesvm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// startTimeout bounds how long Start waits for the facade to listen.
	startTimeout = 30 * time.Second
	// killAfter is how long Close waits for the facade to exit after its
	// stdin is closed before killing it.
	killAfter = 5 * time.Second
	// outputTail is how much of npm's or node's output error messages keep.
	outputTail = 4096
)

// Node is a running facade process.
type Node struct {
	// RPC is the HTTP JSON-RPC endpoint, e.g. "http://127.0.0.1:41234".
	RPC string
	// WS is the WebSocket pubsub endpoint, e.g. "ws://127.0.0.1:41234".
	WS string

	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    chan struct{} // closed when cmd.Wait returns
	waitErr   error         // set before exited is closed
	closeOnce sync.Once
	closeErr  error
}

// Dir returns the directory holding server.js and package.json.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("litesvm: cannot locate package source directory")
	}
	dir := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		return "", fmt.Errorf("litesvm: facade source not found: %w", err)
	}
	return dir, nil
}

// Start installs the facade's npm dependencies if needed, starts the facade
// on a free loopback port and returns once it listens. logf, if not nil,
// receives the facade's stderr and progress messages; it must stay callable
// until Close returns. ctx bounds the installation and the start only: the
// process lives until Close.
func Start(ctx context.Context, logf func(format string, args ...any)) (*Node, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("litesvm: node (Node.js >= 20) is not installed or not on PATH: %w", err)
	}
	if err := ensureDeps(ctx, dir, logf); err != nil {
		return nil, err
	}

	cmd := exec.Command(nodeBin, "server.js", "0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("litesvm: stdin pipe: %w", err)
	}
	ready := make(chan string, 1)
	stdout := &lineWriter{fn: func(line string) {
		select {
		case ready <- line:
		default:
			logf("litesvm facade stdout: %s", line)
		}
	}}
	stderr := &lineWriter{fn: func(line string) { logf("litesvm facade: %s", line) }, keepTail: true}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = killAfter

	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("litesvm: start node server.js: %w", err)
	}
	n := &Node{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		n.waitErr = cmd.Wait()
		stdout.flush()
		stderr.flush()
		close(n.exited)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line := <-ready:
		var addr struct {
			RPC string `json:"rpc"`
			WS  string `json:"ws"`
		}
		if err := json.Unmarshal([]byte(line), &addr); err != nil || addr.RPC == "" || addr.WS == "" {
			_ = n.Close()
			return nil, fmt.Errorf("litesvm: unexpected first line from facade %q", line)
		}
		n.RPC, n.WS = addr.RPC, addr.WS
		logf("litesvm facade listening on %s (started in %v)", n.RPC, time.Since(started).Round(time.Millisecond))
		return n, nil
	case <-n.exited:
		return nil, fmt.Errorf("litesvm: facade exited before listening (%v); stderr tail:\n%s", n.waitErr, stderr.tail())
	case <-ctx.Done():
		_ = n.Close()
		return nil, fmt.Errorf("litesvm: waiting for facade to listen: %w", ctx.Err())
	case <-timer.C:
		_ = n.Close()
		return nil, fmt.Errorf("litesvm: facade did not listen within %v; stderr tail:\n%s", startTimeout, stderr.tail())
	}
}

// Close stops the facade: it closes its stdin (the facade exits when stdin
// closes), kills it if it is still running after 5 s, and waits for it.
// Close is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		_ = n.stdin.Close()
		timer := time.NewTimer(killAfter)
		defer timer.Stop()
		select {
		case <-n.exited:
		case <-timer.C:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		var exitErr *exec.ExitError
		if n.waitErr != nil && !errors.As(n.waitErr, &exitErr) {
			n.closeErr = fmt.Errorf("litesvm: wait for facade: %w", n.waitErr)
		} else if exitErr != nil && !exitErr.Exited() {
			n.closeErr = fmt.Errorf("litesvm: facade killed: %w", exitErr)
		}
	})
	return n.closeErr
}

// ensureDeps runs npm ci in dir unless node_modules is up to date with
// package-lock.json. A file lock serialises concurrent test binaries.
func ensureDeps(ctx context.Context, dir string, logf func(string, ...any)) error {
	if depsFresh(dir) {
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("litesvm: open install lock: %w", err)
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if depsFresh(dir) { // another process installed while we waited
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("litesvm: npm is not installed or not on PATH (needed to install %s/node_modules): %w", dir, err)
	}
	logf("litesvm: running npm ci in %s", dir)
	started := time.Now()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = killAfter
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("litesvm: npm ci in %s failed: %w; output tail:\n%s", dir, err, tail(out.Bytes()))
	}
	logf("litesvm: npm ci done in %v", time.Since(started).Round(time.Millisecond))
	return nil
}

// depsFresh reports whether node_modules was installed from the current
// package-lock.json (npm writes node_modules/.package-lock.json last).
func depsFresh(dir string) bool {
	lockInfo, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	marker, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "litesvm", "package.json")); err != nil {
		return false
	}
	return !marker.ModTime().Before(lockInfo.ModTime())
}

// flock takes an exclusive lock on f, polling so that ctx can cancel.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("litesvm: lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("litesvm: waiting for install lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(b []byte) string {
	if len(b) > outputTail {
		b = b[len(b)-outputTail:]
	}
	return strings.TrimSpace(string(b))
}

// lineWriter splits written bytes into lines and hands each to fn. It is
// written to by a single goroutine owned by exec.Cmd; the mutex guards the
// tail read by Start.
type lineWriter struct {
	fn       func(string)
	keepTail bool

	mu   sync.Mutex
	buf  []byte
	last []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	if w.keepTail {
		w.last = append(w.last, p...)
		if len(w.last) > 2*outputTail {
			w.last = append([]byte(nil), w.last[len(w.last)-outputTail:]...)
		}
	}
	var lines []string
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	w.mu.Unlock()
	for _, l := range lines {
		w.fn(l)
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	rest := string(w.buf)
	w.buf = nil
	w.mu.Unlock()
	if rest != "" {
		w.fn(rest)
	}
}

func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return tail(w.last)
}
