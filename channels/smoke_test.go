package channels

import (
	"testing"
)

func TestSmokeSubscribeSnapshotLive(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	ts.publish("prices:ETH-USD", `{"price":1}`)
	c := ts.dial("", nil)
	w := c.expect("welcome")
	if w.Protocol != 1 || w.Session == "" || w.HeartbeatMS != 25000 {
		t.Fatalf("welcome %+v", w)
	}
	c.send(map[string]any{"type": "subscribe", "id": 7, "channels": []string{"prices:ETH-USD"}})
	s := c.expect("subscribed")
	if string(s.ID) != "7" || s.Offset != 1 || string(s.Snapshot) != `{"price":1}` || s.Recovered != nil {
		t.Fatalf("subscribed %+v", s)
	}
	ts.publish("prices:ETH-USD", `{"price":2}`)
	u := c.expect("update")
	if u.Channel != "prices:ETH-USD" || u.Offset != 2 || string(u.Data) != `{"price":2}` {
		t.Fatalf("update %+v", u)
	}
}
