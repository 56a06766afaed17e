// Command feedctl is the command-line client of feedd.
//
//	feedctl tail [flags] CHANNEL…     print a channel's updates as JSON lines
//	feedctl latest [flags] CHANNEL    print a channel's latest position and snapshot
//	feedctl load [flags]              the load generator (loopback daemons only)
//	feedctl help
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "tail":
		return cmdTail(args, stdout, stderr)
	case "latest":
		return cmdLatest(args, stdout, stderr)
	case "load":
		return cmdLoad(args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 0 {
			// feedctl help COMMAND: the command's own usage.
			switch args[0] {
			case "tail", "latest", "load":
				return run([]string{args[0], "--help"}, stdout, stdout)
			}
		}
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "feedctl: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  feedctl tail [flags] CHANNEL…    print updates of channels as JSON lines (--pretty: a table),
                                   reconnecting and recovering what was missed
  feedctl latest [flags] CHANNEL   print a channel's latest position and snapshot
                                   (GET /api/v1/channels/{channel})
  feedctl load [flags]             load generator: N connections over C channels, a publisher at
                                   rate R for D seconds; reports deliveries, latency, losses, CPU
                                   and the daemon's memory (loopback daemons only)
  feedctl help [COMMAND]           this text, or a command's flags
`)
}
