package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// chromium returns the browser binary, skipping the test when there is none
// outside CI (where .ci/run installs it, and its absence is a failure).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs it)")
	}
	t.Skip("chromium is not installed; apt-get install chromium to run browser tests")
	return ""
}

// browserPage opens the daemon's /ws from JavaScript, subscribes and posts
// what it received back to the test.
const browserPage = `<!doctype html><html><body><script>
const out = [];
const report = (s) => fetch("/result", {method: "POST", body: s});
const ws = new WebSocket("WSURL");
ws.onmessage = (ev) => {
  const msgs = [].concat(JSON.parse(ev.data));
  for (const m of msgs) {
    out.push(m.type + (m.channel ? " " + m.channel : ""));
    if (m.type === "welcome") ws.send(JSON.stringify({type: "subscribe", id: "b1", channels: ["prices:ETH-USD"]}));
    if (m.type === "update") { ws.close(1000); report(out.join("\n") + "\nprice=" + m.data.price); }
  }
};
ws.onerror = () => report("error");
</script></body></html>`

// TestBrowserConnects runs headless Chromium against the daemon: a page's
// new WebSocket("ws://…/ws?token=…") gets welcome, subscribed and live
// updates from a channel its token's claims allow.
func TestBrowserConnects(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	var ticks strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&ticks, `{"ts":%d,"source":"a","symbol":"ETH-USD","price":%d}`+"\n", 1000+i*100, 3000+i)
	}
	os.WriteFile(filepath.Join(dir, "ticks.jsonl"), []byte(ticks.String()), 0o644)
	secret := "0123456789abcdef0123456789abcdef"
	r := startIn(t, dir, strings.Replace(header, "server:\n", "server:\n  auth: {hs256_secret: "+secret+"}\n", 1)+`feeds:
  - {id: replay, type: price.replay, file: ticks.jsonl, speed: 1}
prices:
  symbols:
    - {symbol: ETH-USD}
channels:
  namespaces:
    - {name: prices, read: claims}
`)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "browser", "exp": time.Now().Add(time.Hour).Unix(), "channels": []string{"prices:*"},
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 1)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			b, _ := io.ReadAll(req.Body)
			select {
			case results <- string(b):
			default:
			}
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, strings.Replace(browserPage, "WSURL", "ws://"+r.d.Addr().String()+"/ws?token="+token, 1))
	}))
	defer page.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), page.URL)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	select {
	case got := <-results:
		lines := strings.Split(got, "\n")
		if len(lines) < 4 || lines[0] != "welcome" || lines[1] != "subscribed prices:ETH-USD" || !strings.HasPrefix(lines[len(lines)-1], "price=30") {
			t.Fatalf("browser saw:\n%s", got)
		}
	case <-ctx.Done():
		t.Fatal("no result from the browser within 60s")
	}
}
