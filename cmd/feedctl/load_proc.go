package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times. It is
// 100 on every Linux the tool is meant for.
const clockTicks = 100

// procSample is what /proc says of a process at one moment.
type procSample struct {
	RSSKiB     uint64
	CPUSeconds float64
}

// readProc samples the RSS (VmRSS of /proc/PID/status) and CPU time (utime
// plus stime of /proc/PID/stat) of process pid.
func readProc(pid int) (procSample, error) {
	var out procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out, err
	}
	found := false
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				if v, err := strconv.ParseUint(string(f[0]), 10, 64); err == nil {
					out.RSSKiB, found = v, true
				}
			}
		}
	}
	if !found {
		return out, fmt.Errorf("/proc/%d/status has no VmRSS (a zombie?)", pid)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return out, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return out, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	out.CPUSeconds = cpu
	return out, nil
}

// parseStatCPU returns utime+stime in seconds from a /proc/PID/stat line.
// The command name (field 2) is in parentheses and may hold spaces, so the
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := bytes.Fields(stat[end+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("too few fields")
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime")
	}
	return float64(ut+st) / clockTicks, nil
}

// selfCPU returns the CPU seconds used by this process and by its children
// that have been waited for.
func selfCPU() (self, children float64) {
	tv := func(t syscall.Timeval) float64 {
		return time.Duration(t.Nano()).Seconds()
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = tv(ru.Utime) + tv(ru.Stime)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = tv(ru.Utime) + tv(ru.Stime)
	}
	return self, children
}

// raiseFileLimit raises the soft open-file limit to the hard limit and
// returns the limit now in force.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = want.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return want.Cur
		}
	}
	return lim.Cur
}
