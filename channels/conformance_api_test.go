package channels

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/feedd/feedd/channels/protocol"
)

func apiServer(t *testing.T) *testServer {
	return newTestServer(t, HubOptions{}, ServerOptions{Verifier: testVerifier(), APIKeys: []string{"k1", "k2"}})
}

// decodeObject decodes an API answer into a map, failing on anything else.
func decodeObject(t *testing.T, body string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", body, err)
	}
	return m
}

// expectAPIError checks an error answer: status and {"error": "..."} whose
// message contains want.
func expectAPIError(t *testing.T, code int, body string, wantCode int, want string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("status %d (%s), want %d", code, body, wantCode)
	}
	m := decodeObject(t, body)
	var msg string
	if len(m) != 1 || json.Unmarshal(m["error"], &msg) != nil || !strings.Contains(msg, want) {
		t.Fatalf("answer %s, want {\"error\": \"...%s...\"}", body, want)
	}
}

func compact(t *testing.T, raw []byte) json.RawMessage {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.Bytes()
}

// PROTOCOL.md, GET /api/v1/channels/{channel}.
func TestConformanceAPIChannel(t *testing.T) {
	ts := apiServer(t)
	p := ts.publish("prices:ETH-USD", `{"price":1}`)
	ts.publish("prices:ETH-USD", `{"price": 2}`)
	ts.publish("private:x", `{"secret":true}`)
	ts.publish("claimed:yes", `{"c":1}`)
	ts.publish("claimed:no", `{"c":2}`)
	ts.publish("wallet:0xabc", `{"w":1}`)

	type info struct {
		Channel  string          `json:"channel"`
		Epoch    string          `json:"epoch"`
		Offset   uint64          `json:"offset"`
		Snapshot json.RawMessage `json:"snapshot"`
	}
	ok := func(t *testing.T, path, auth string, want info) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.hs.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
			t.Fatalf("GET %s: status %d, Content-Type %q", path, resp.StatusCode, ct)
		}
		var raw map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		if len(keys) != 4 || raw["channel"] == nil || raw["epoch"] == nil || raw["offset"] == nil || raw["snapshot"] == nil {
			t.Fatalf("GET %s: keys %v, want channel, epoch, offset, snapshot", path, keys)
		}
		var got info
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &got)
		got.Snapshot = compact(t, raw["snapshot"])
		want.Snapshot = compact(t, want.Snapshot)
		if want.Epoch == "" {
			want.Epoch = got.Epoch
		}
		if !reflect.DeepEqual(got, want) || got.Epoch == "" {
			t.Fatalf("GET %s: %+v (snapshot %s), want %+v (snapshot %s)", path, got, got.Snapshot, want, want.Snapshot)
		}
	}
	t.Run("state channel", func(t *testing.T) {
		ok(t, "/api/v1/channels/prices:ETH-USD", "", info{"prices:ETH-USD", p.Epoch, 2, json.RawMessage(`{"price": 2}`)})
	})
	t.Run("token namespace with token", func(t *testing.T) {
		ok(t, "/api/v1/channels/private:x", "good", info{"private:x", "", 1, json.RawMessage(`{"secret":true}`)})
		ok(t, "/api/v1/channels/private:x?token=good", "", info{"private:x", "", 1, json.RawMessage(`{"secret":true}`)})
	})
	t.Run("claims namespace allowed", func(t *testing.T) {
		ok(t, "/api/v1/channels/claimed:yes", "claims", info{"claimed:yes", "", 1, json.RawMessage(`{"c":1}`)})
	})
	t.Run("alias", func(t *testing.T) {
		ok(t, "/api/v1/channels/wallet:0xABC", "", info{"wallet:0xABC", "", 1, json.RawMessage(`{"w":1}`)})
	})

	errCases := []struct {
		name, path, auth string
		code             int
		msg              string
	}{
		{"no data", "/api/v1/channels/ops:nothing", "", 404, "no data"},
		{"no colon", "/api/v1/channels/prices", "", 400, "bad channel"},
		{"unknown namespace", "/api/v1/channels/nope:x", "", 400, "bad channel"},
		{"bad character", "/api/v1/channels/prices:a*b", "", 400, "bad channel"},
		{"token namespace without token", "/api/v1/channels/private:x", "", 401, "token"},
		{"token namespace with bad token", "/api/v1/channels/private:x", "bad", 401, "token"},
		{"claims namespace without token", "/api/v1/channels/claimed:yes", "", 401, "token"},
		{"claims namespace not allowed", "/api/v1/channels/claimed:no", "claims", 403, "claimed:no"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.with(t).httpDo("GET", tc.path, tc.auth, "")
			expectAPIError(t, code, body, tc.code, tc.msg)
		})
	}
}

// A token namespace must not tell a caller without a token whether a
// channel has data.
func TestConformanceAPIChannelAuthBeforeExistence(t *testing.T) {
	ts := apiServer(t)
	code, body := ts.httpDo("GET", "/api/v1/channels/private:never", "", "")
	if code != http.StatusUnauthorized {
		t.Fatalf("api.go:34 handleChannel answers 404 before checking the token, so an unauthenticated caller learns which private channels have data: "+
			"GET /api/v1/channels/private:never without a token got %d %s, want 401 (as for private:x with data)", code, body)
	}
}

// Hub.Latest (and so the channel API) gives the newest publication's data
// for a channel without a snapshot, as its doc comment says.
func TestConformanceLatestWithoutSnapshot(t *testing.T) {
	ts := apiServer(t)
	ts.publish("ops:ev", `{"n":1}`)
	ts.publish("ops:ev", `{"n":2}`)
	code, body := ts.httpDo("GET", "/api/v1/channels/ops:ev", "", "")
	if code != 200 {
		t.Fatalf("status %d %s", code, body)
	}
	if snap := string(compact(t, decodeObject(t, body)["snapshot"])); snap != `{"n":2}` {
		t.Fatalf(`hub.go:195 Hub.Latest documents "or, for a channel without one, its newest publication's data" but returns only the broker snapshot: `+
			`after publishing {"n":1} and {"n":2} to ops:ev, GET /api/v1/channels/ops:ev got snapshot %s, want {"n":2}`, snap)
	}
}

// PROTOCOL.md, POST /api/v1/publish.
func TestConformanceAPIPublish(t *testing.T) {
	ts := apiServer(t)
	c := ts.mustDial("", nil)
	c.subscribe("ops:a")

	type result struct {
		Channel string `json:"channel"`
		Epoch   string `json:"epoch"`
		Offset  uint64 `json:"offset"`
	}
	publish := func(t *testing.T, key, body string) []result {
		t.Helper()
		code, answer := ts.with(t).httpDo("POST", "/api/v1/publish", key, body)
		if code != 200 {
			t.Fatalf("POST %s: status %d %s", body, code, answer)
		}
		m := decodeObject(t, answer)
		var out []result
		if len(m) != 1 || json.Unmarshal(m["results"], &out) != nil {
			t.Fatalf("answer %s, want {\"results\": [...]}", answer)
		}
		var raw []map[string]json.RawMessage
		json.Unmarshal(m["results"], &raw)
		for _, r := range raw {
			if len(r) != 3 {
				t.Fatalf("result %v, want channel, epoch, offset", r)
			}
		}
		return out
	}

	// Single.
	res := publish(t, "k1", `{"channel":"ops:a","data":{"x":1}}`)
	if len(res) != 1 || res[0].Channel != "ops:a" || res[0].Offset != 1 || res[0].Epoch == "" {
		t.Fatalf("results %+v", res)
	}
	u := c.expect(protocol.TypeUpdate)
	if u.Channel != "ops:a" || u.Offset != 1 || string(u.Data) != `{"x":1}` {
		t.Fatalf("update %s", c.last)
	}
	epoch := res[0].Epoch

	// Batch, in order, with the second key.
	res = publish(t, "k2", `{"publications":[{"channel":"ops:a","data":[1]},{"channel":"ops:b","data":"s"},{"channel":"ops:a","data":{"y":2}}]}`)
	want := []result{{"ops:a", epoch, 2}, {"ops:b", res[1].Epoch, 1}, {"ops:a", epoch, 3}}
	if !reflect.DeepEqual(res, want) || res[1].Epoch == "" {
		t.Fatalf("results %+v, want %+v", res, want)
	}
	c.expectUpdates("ops:a", 2, 3)

	// The token namespaces accept API publications too.
	if res := publish(t, "k1", `{"channel":"private:x","data":1}`); res[0].Offset != 1 {
		t.Fatalf("results %+v", res)
	}
}

func TestConformanceAPIPublishErrors(t *testing.T) {
	ts := apiServer(t)
	cases := []struct {
		name, key, body string
		code            int
		msg             string
	}{
		{"no key", "", `{"channel":"ops:a","data":1}`, 401, "API key"},
		{"wrong key", "k3", `{"channel":"ops:a","data":1}`, 401, "API key"},
		{"empty key", " ", `{"channel":"ops:a","data":1}`, 401, "API key"},
		{"namespace not publishable", "k1", `{"channel":"prices:ETH-USD","data":1}`, 403, "prices"},
		{"namespace not publishable in a batch", "k1", `{"publications":[{"channel":"ops:a","data":1},{"channel":"wallet:0xabc","data":1}]}`, 403, "publications[1].channel"},
		{"bad channel", "k1", `{"channel":"nope","data":1}`, 400, "channel: "},
		{"bad channel in a batch", "k1", `{"publications":[{"channel":"ops:a","data":1},{"channel":"ops:","data":1}]}`, 400, "publications[1].channel: "},
		{"missing channel", "k1", `{"data":1}`, 400, "channel: required"},
		{"missing channel in a batch", "k1", `{"publications":[{"data":1}]}`, 400, "publications[0].channel: required"},
		{"missing data", "k1", `{"channel":"ops:a"}`, 400, "data: required"},
		{"null data in a batch", "k1", `{"publications":[{"channel":"ops:a","data":1},{"channel":"ops:a","data":null}]}`, 400, "publications[1].data: required"},
		{"empty batch", "k1", `{"publications":[]}`, 400, "publications"},
		{"both forms", "k1", `{"channel":"ops:a","data":1,"publications":[{"channel":"ops:a","data":1}]}`, 400, "either"},
		{"unknown field", "k1", `{"channel":"ops:a","data":1,"extra":1}`, 400, "extra"},
		{"malformed JSON", "k1", `{"channel":`, 400, "body"},
		{"empty body", "k1", ``, 400, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.with(t).httpDo("POST", "/api/v1/publish", tc.key, tc.body)
			expectAPIError(t, code, body, tc.code, tc.msg)
		})
	}
	// Nothing of a refused batch was published.
	code, body := ts.httpDo("GET", "/api/v1/channels/ops:a", "", "")
	if code != 404 {
		t.Fatalf("ops:a after refused publications: %d %s, want 404", code, body)
	}
}
