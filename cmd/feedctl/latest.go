package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func cmdLatest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feedctl latest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the daemon's HTTP base URL")
	token := fs.String("token", "", "a token (JWT) for channels that need one")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: feedctl latest [--url URL] [--token T] CHANNEL\n\nPrints the channel's epoch, offset and snapshot (GET /api/v1/channels/{channel}).\n\nflags:\n")
		fs.PrintDefaults()
	}
	// Flags may come after the channel too.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "feedctl latest: want exactly one CHANNEL")
		fs.Usage()
		return 2
	}
	channel := rest[0]
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "feedctl latest: --url %q: want http://host:port\n", *base)
		return 2
	}
	target := strings.TrimRight(u.String(), "/") + "/api/v1/channels/" + url.PathEscape(channel)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "feedctl latest: %v\n", err)
		return 2
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "feedctl latest: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "feedctl latest: reading the answer: %v\n", err)
		return 1
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		fmt.Fprintf(stderr, "feedctl latest: %s: %s\n", resp.Status, msg)
		return 1
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		fmt.Fprintf(stderr, "feedctl latest: the daemon answered something that is not JSON: %v\n", err)
		return 1
	}
	out.WriteByte('\n')
	_, _ = stdout.Write(out.Bytes())
	return 0
}
