package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/daemon"
	"github.com/feedd/feedd/plugins"
	_ "github.com/feedd/feedd/plugins/all"
)

// buildVersion is set with -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}

func configFlag(name string, args []string, stderr io.Writer) (*flag.FlagSet, *string, error) {
	fs := flag.NewFlagSet("feedd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", os.Getenv("FEEDD_CONFIG"), "configuration `file` (default: the embedded configuration)")
	fs.StringVar(path, "config", *path, "same as -c")
	return fs, path, nil
}

func cmdRun(args []string, stderr io.Writer) int {
	fs, path, _ := configFlag("run", args, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	raiseFileLimit()
	d, err := daemon.New(daemon.Options{ConfigPath: *path, Version: version()})
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{}, 1)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go handleSignals(sigs, d.Logger(), cancel, reload, os.Exit)
	if err := d.Run(ctx, reload); err != nil {
		fmt.Fprintln(stderr, "feedd:", err)
		return 1
	}
	return 0
}

// handleSignals turns signals into actions until sigs is closed: SIGHUP asks
// for a reload; the first SIGINT or SIGTERM starts a graceful shutdown
// (cancel); a second one exits at once through exit.
func handleSignals(sigs <-chan os.Signal, logger *slog.Logger, cancel func(), reload chan<- struct{}, exit func(int)) {
	stops := 0
	for s := range sigs {
		if s == syscall.SIGHUP {
			select {
			case reload <- struct{}{}:
			default: // a reload is already pending
			}
			continue
		}
		stops++
		if stops == 1 {
			logger.Info("signal received; shutting down (send it again to exit at once)", "signal", s.String())
			cancel()
			continue
		}
		logger.Error("second signal; exiting at once", "signal", s.String())
		exit(1)
		return
	}
}

func printConfigError(w io.Writer, err error) {
	if ps, ok := daemon.Problems(err); ok {
		fmt.Fprintf(w, "feedd: configuration has %d problem(s):\n", len(ps))
		for _, p := range ps {
			fmt.Fprintln(w, "  "+p.Error())
		}
		return
	}
	fmt.Fprintln(w, "feedd:", err)
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs, path, _ := configFlag("validate", args, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 1 && *path == "" {
		*path = fs.Arg(0)
	}
	if _, err := daemon.Load(*path, plugins.Default); err != nil {
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// pluginDoc is one type in `feedd plugins --json`.
type pluginDoc struct {
	Name       string         `json:"name"`
	Kind       plugins.Kind   `json:"kind"`
	Doc        string         `json:"doc"`
	StallAfter string         `json:"stall_after"`
	Fields     []config.Field `json:"fields"`
	Example    string         `json:"example"`
}

func cmdPlugins(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feedd plugins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	asMD := fs.Bool("markdown", false, "print the Markdown configuration reference (the README's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	types := plugins.Default.Types("")
	var err error
	switch {
	case *asJSON:
		docs := make([]pluginDoc, 0, len(types))
		for _, t := range types {
			docs = append(docs, pluginDoc{Name: t.Name, Kind: t.Kind, Doc: t.Doc, StallAfter: stallText(t), Fields: t.Fields(), Example: t.Example})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(docs)
	case *asMD:
		err = writeReference(stdout, types)
	default:
		for _, t := range types {
			fmt.Fprintf(stdout, "%s (%s): %s\n  stall_after default: %s\n", t.Name, t.Kind, t.Doc, stallText(t))
			if err = config.WriteText(stdout, "  ", config.Rows("", t.Fields())); err != nil {
				break
			}
			fmt.Fprintln(stdout, "  example:")
			for _, l := range strings.Split(strings.TrimRight(t.Example, "\n"), "\n") {
				fmt.Fprintln(stdout, "    "+l)
			}
			fmt.Fprintln(stdout)
		}
	}
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		fmt.Fprintln(stderr, "feedd:", err)
		return 1
	}
	return 0
}

func stallText(t plugins.Type) string {
	if t.StallAfter == 0 {
		return "off"
	}
	return t.StallAfter.String()
}

// writeReference writes the configuration reference: the daemon's sections,
// then every plugin type.
func writeReference(w io.Writer, types []plugins.Type) error {
	var b strings.Builder
	b.WriteString("### Daemon settings\n\nEvery scalar key can be overridden by an environment variable: `FEEDD_` and the key's path in upper case with `_` for `.` (`server.listen` is `FEEDD_SERVER_LISTEN`).\n\n")
	if err := config.WriteMarkdown(&b, config.Rows("", config.FieldsOf(&daemon.Config{}))); err != nil {
		return err
	}
	for _, t := range types {
		fmt.Fprintf(&b, "\n### `%s` (%s)\n\n%s. Stall watch default: %s.\n\n", t.Name, t.Kind, capitalize(t.Doc), stallText(t))
		if err := config.WriteMarkdown(&b, config.Rows("", t.Fields())); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\nExample:\n\n```yaml\n%s```\n", t.Example)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
