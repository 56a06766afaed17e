// Command feedd is the daemon: it watches chains and markets and streams what
// it sees to dashboards over WebSocket.
//
//	feedd [run] [-c FILE]      run (default: the embedded configuration)
//	feedd validate [-c FILE]   check a configuration, like nginx -t
//	feedd plugins [--json|--markdown]  list plugin types and their keys
//	feedd version
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
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "validate":
		return cmdValidate(args, stdout, stderr)
	case "plugins":
		return cmdPlugins(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "feedd", version())
		return 0
	case "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "feedd: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  feedd [run] [-c FILE]                run the daemon (default: the embedded configuration)
  feedd validate [-c FILE]             check a configuration; prints ok or every problem
  feedd plugins [--json | --markdown]  list plugin types with their configuration keys
  feedd version                        print the version
The configuration file may also come from FEEDD_CONFIG.
`)
}
