//go:build !linux

package main

import (
	"errors"
	"net"
)

// Elsewhere than on Linux, only the goroutine reader is available.

const (
	defaultReader  = "goroutine"
	epollSupported = false
)

type epollSet struct{}

func newEpollSet(readers, conns int, note func(string)) (*epollSet, error) {
	return nil, errors.New("--reader epoll needs Linux")
}

func (s *epollSet) add(c *loadConn) error { return errors.New("--reader epoll needs Linux") }
func (s *epollSet) remove(e *epConn)      {}
func (s *epollSet) stop()                 {}

type epConn struct {
	fd, slot, epfd int
	p              wsParser
	done           bool
}

func detach(tc *net.TCPConn) (int, error) {
	tc.Close()
	return -1, errors.New("--reader epoll needs Linux")
}

func (e *epConn) write(op byte, payload []byte) error {
	return errors.New("--reader epoll needs Linux")
}
func (e *epConn) close() { e.done = true }
