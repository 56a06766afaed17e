package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/feedd/feedd/channels"
)

const testKey = "0123456789abcdef0123456789abcdef"

type testDaemon struct {
	hub  *channels.Hub
	hs   *httptest.Server
	ws   string
	http string
}

// newTestDaemon runs a hub and its server on 127.0.0.1 with the load
// namespace and a token-only namespace.
func newTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	hub, err := channels.NewHub(channels.HubOptions{
		Logger: slog.New(slog.DiscardHandler),
		Namespaces: []*channels.Namespace{
			{Name: "load", Read: channels.ReadPublic, PublishAPI: true, HistorySize: 100, HistoryTTL: time.Minute},
			{Name: "secret", Read: channels.ReadToken, PublishAPI: true, HistorySize: 10},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := channels.NewServer(hub, channels.ServerOptions{APIKeys: []string{testKey}, MaxRequestsPerSecond: -1})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		hs.Close()
		hub.Close()
	})
	return &testDaemon{hub: hub, hs: hs, http: hs.URL, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

func TestLatest(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := d.hub.Publish(ctx, "load:x", json.RawMessage(`{"n":`+string(rune('0'+i))+`}`), nil); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"latest", "--url", d.http, "load:x"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got struct {
		Channel  string          `json:"channel"`
		Epoch    string          `json:"epoch"`
		Offset   uint64          `json:"offset"`
		Snapshot json.RawMessage `json:"snapshot"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if got.Channel != "load:x" || got.Offset != 3 || got.Epoch == "" {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(out.String(), "\n  \"offset\": 3") || !strings.HasSuffix(out.String(), "}\n") {
		t.Errorf("want indented JSON ending in one newline, got %q", out.String())
	}

	// Flags after the channel work too.
	out.Reset()
	if code := run([]string{"latest", "load:x", "--url", d.http + "/"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"load:x"`) {
		t.Errorf("flags after the channel: exit %d, %s %s", code, out.String(), errb.String())
	}
}

func TestLatestErrors(t *testing.T) {
	d := newTestDaemon(t)
	if _, err := d.hub.Publish(context.Background(), "secret:y", json.RawMessage(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"load:nothing"}, 1, "404 Not Found: channel load:nothing has no data"},
		{[]string{"nonamespace"}, 1, "400 Bad Request: bad channel"},
		{[]string{"secret:y"}, 1, "401 Unauthorized: this channel needs a token"},
		{[]string{"--token", "abc", "secret:y"}, 1, "401 Unauthorized: this server accepts no tokens"},
		{[]string{"a", "b"}, 2, "exactly one CHANNEL"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"latest", "--url", d.http}, tc.args...), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.err) || out.Len() != 0 {
			t.Errorf("latest %q = %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.err)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"latest", "--url", "ftp://x", "load:x"}, &out, &errb); code != 2 {
		t.Errorf("bad --url: exit %d", code)
	}
	// Nothing listening.
	hs := httptest.NewServer(http.NotFoundHandler())
	addr := hs.URL
	hs.Close()
	if code := run([]string{"latest", "--url", addr, "load:x"}, &out, &errb); code != 1 {
		t.Errorf("no daemon: exit %d, %s", code, errb.String())
	}
}
