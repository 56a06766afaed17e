//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The epoll reader: instead of a goroutine per connection, each parked in
// Go's netpoller between frames (a read that fails with EAGAIN, a park, a
// wake-up, the read again), a few goroutines locked to their threads wait
// in epoll_wait(2) for many sockets at once and read each ready socket
// with read(2) until it is drained, into one buffer per reader. Frames are
// split by wsParser and handed to the same scanner and accounting as the
// goroutine reader's. It spends less CPU per received frame, CPU taken
// from the daemon under test on the same machine.
//
// After the handshake a socket leaves Go's netpoller: its descriptor is
// duplicated and the net.Conn closed, which removes the original from the
// runtime's epoll. Left registered there too, every frame would also wake
// the runtime's own epoll_wait (a quarter of the reader's CPU in a
// profile). The duplicate is a plain descriptor the group closes itself.

const (
	defaultReader  = "epoll"
	epollSupported = true
)

// writeTimeout bounds a write of a small frame (subscribe, pong, close).
const writeTimeout = 5 * time.Second

const (
	epollET        = 1 << 31   // EPOLLET, as a uint32
	epollWaitMs    = 50        // readers notice stop within this
	epollReadBuf   = 256 << 10 // bytes per read at most
	epollMaxEvents = 256
)

// epollSet is a group's epoll readers. Connection slot s is read by
// readers[s%len(readers)], each with its own epoll instance, so a
// connection is only ever read by one goroutine.
type epollSet struct {
	readers  []*epReader
	slots    []atomic.Pointer[loadConn] // by slot; set before registering
	note     func(string)
	stopping atomic.Bool
	wg       sync.WaitGroup
	once     sync.Once
}

type epReader struct {
	set  *epollSet
	epfd int
	buf  []byte
}

// newEpollSet starts readers goroutines for up to conns connections; note
// records an error that stopped a reader.
func newEpollSet(readers, conns int, note func(string)) (*epollSet, error) {
	s := &epollSet{slots: make([]atomic.Pointer[loadConn], conns), note: note}
	for range max(readers, 1) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		s.readers = append(s.readers, &epReader{set: s, epfd: fd, buf: make([]byte, epollReadBuf)})
	}
	for _, r := range s.readers {
		s.wg.Add(1)
		go r.run()
	}
	return s, nil
}

// add registers connection c (edge-triggered: its reader reads it until
// drained on every event). The socket may already hold frames: epoll then
// reports it at once.
func (s *epollSet) add(c *loadConn) error {
	e := c.ep
	if e.slot < 0 || e.slot >= len(s.slots) {
		return fmt.Errorf("connection slot %d out of range", e.slot)
	}
	r := s.readers[e.slot%len(s.readers)]
	e.epfd = r.epfd
	s.slots[e.slot].Store(c)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(e.slot)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, e.fd, &ev); err != nil {
		s.slots[e.slot].Store(nil)
		e.epfd = -1
		return err
	}
	return nil
}

// remove deregisters e (by its reader, or before it was registered).
func (s *epollSet) remove(e *epConn) {
	if e.epfd < 0 {
		return
	}
	var ev syscall.EpollEvent
	_ = syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_DEL, e.fd, &ev)
	e.epfd = -1
}

// stop ends the readers, waits for them and closes the epoll instances.
// The connections stay open.
func (s *epollSet) stop() {
	s.once.Do(func() {
		s.stopping.Store(true)
		s.wg.Wait()
		for _, r := range s.readers {
			_ = syscall.Close(r.epfd)
		}
	})
}

func (r *epReader) run() {
	defer r.set.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sc frameScanner
	var m msgInfo
	events := make([]syscall.EpollEvent, epollMaxEvents)
	for !r.set.stopping.Load() {
		n, err := syscall.EpollWait(r.epfd, events, epollWaitMs)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			r.set.note("epoll_wait: " + err.Error())
			return
		}
		for i := range n {
			ev := &events[i]
			if c := r.set.slots[ev.Fd].Load(); c != nil && !c.ep.done {
				r.service(c, ev.Events, &sc, &m)
			}
		}
	}
}

// service reads a ready connection until it is drained. A read that fills
// less than the buffer drained the socket (TCP returns all it has), so it
// needs no read that fails with EAGAIN, unless the peer hung up: then read
// on to the end of the stream, as no other event will come.
func (r *epReader) service(c *loadConn, events uint32, sc *frameScanner, m *msgInfo) {
	fd := c.ep.fd
	hup := events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	for {
		n, err := syscall.Read(fd, r.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		case err != nil:
			c.epEnd(-1, "read: "+err.Error())
			return
		case n == 0:
			c.epEnd(-1, io.EOF.Error())
			return
		}
		if !c.consume(r.buf[:n], time.Now().UnixNano(), sc, m) {
			return
		}
		if n < len(r.buf) && !hup {
			return
		}
	}
}

// epConn is the socket of a connection read by the epoll readers. Its
// fields are the reader's (or the dialer's until registered, or the
// group's once the readers stopped).
type epConn struct {
	fd   int // owned: closed by close
	slot int // the connection's index in its group (epollSet.slots)
	epfd int // the epoll instance it is registered with; -1: none
	p    wsParser
	done bool // closed
}

// detach takes the socket of tc out of Go's hands: it returns a duplicate
// of its descriptor (non-blocking, like the original: they share the open
// file) and closes tc, which deregisters the original from the runtime's
// netpoller and closes it. The socket stays open through the duplicate.
func detach(tc *net.TCPConn) (int, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		tc.Close()
		return -1, err
	}
	nfd := -1
	var errno syscall.Errno
	err = raw.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		nfd, errno = int(r), e
	})
	if err == nil && errno != 0 {
		err = fmt.Errorf("dup: %w", errno)
	}
	tc.Close()
	if err != nil {
		return -1, err
	}
	return nfd, nil
}

// write sends one masked frame. Writes are rare (subscribe, pongs) and
// small: on a full socket buffer, wait a little and try again.
func (e *epConn) write(op byte, payload []byte) error {
	if e.done {
		return net.ErrClosed
	}
	frame := appendClientFrame(make([]byte, 0, 14+len(payload)), op, payload)
	deadline := time.Now().Add(writeTimeout)
	for len(frame) > 0 {
		n, err := syscall.Write(e.fd, frame)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				return fmt.Errorf("write: %w", os.ErrDeadlineExceeded)
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return fmt.Errorf("write: %w", err)
		}
		frame = frame[n:]
	}
	return nil
}

// close releases the parser's buffers and closes the socket (which also
// removes it from an epoll instance).
func (e *epConn) close() {
	if e.done {
		return
	}
	e.done = true
	e.p.release()
	_ = syscall.Close(e.fd)
}
