package solanatest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"sync"

	"github.com/coder/websocket"
	"github.com/gagliardetto/solana-go"
)

// subKind is what a subscription listens to.
type subKind int

const (
	subAccount subKind = iota
	subLogs
	subSignature
	subSlot
	subRoot
)

// subMethods names each kind's subscribe, unsubscribe and notification
// methods.
func subMethods(k subKind) (subscribe, unsubscribe, notification string) {
	switch k {
	case subAccount:
		return "accountSubscribe", "accountUnsubscribe", "accountNotification"
	case subLogs:
		return "logsSubscribe", "logsUnsubscribe", "logsNotification"
	case subSignature:
		return "signatureSubscribe", "signatureUnsubscribe", "signatureNotification"
	case subSlot:
		return "slotSubscribe", "slotUnsubscribe", "slotNotification"
	default:
		return "rootSubscribe", "rootUnsubscribe", "rootNotification"
	}
}

// pubsubMethod returns the kind of a subscribe or unsubscribe method.
func pubsubMethod(name string) (kind subKind, unsubscribe, ok bool) {
	for k := subAccount; k <= subRoot; k++ {
		sub, unsub, _ := subMethods(k)
		switch name {
		case sub:
			return k, false, true
		case unsub:
			return k, true, true
		}
	}
	return 0, false, false
}

// isPubsubMethod reports whether name is a subscribe or unsubscribe method.
func isPubsubMethod(name string) bool {
	_, _, ok := pubsubMethod(name)
	return ok
}

// subscription is one active pubsub subscription.
type subscription struct {
	id       uint64
	kind     subKind
	conn     *wsConn
	lv       level
	enc      string           // account encoding
	key      solana.PublicKey // account, or logs mention
	allLogs  bool
	sig      solana.Signature
	received bool
}

// wsConn is one WebSocket connection. Its messages go out in the order they
// were queued, written by one goroutine.
type wsConn struct {
	c      *websocket.Conn
	out    chan []byte
	ctx    context.Context
	cancel context.CancelFunc
	subs   map[uint64]struct{} // guarded by Server.mu
	once   sync.Once
}

// enqueue queues a message; a connection whose queue is full is a slow
// reader and is closed.
func (c *wsConn) enqueue(msg []byte) {
	select {
	case c.out <- msg:
	default:
		c.cancel()
	}
}

// kill closes the connection abruptly (no close frame).
func (c *wsConn) kill() {
	c.cancel()
	c.once.Do(func() { _ = c.c.CloseNow() })
}

// connList returns the open connections; the mutex is held.
func (s *Server) connList() []*wsConn {
	out := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// serveWS upgrades r and serves pubsub and ordinary methods on it until the
// connection ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("solanatest: websocket accept", "err", err)
		return
	}
	c.SetReadLimit(maxWSMessage)
	ctx, cancel := context.WithCancel(context.Background())
	wc := &wsConn{c: c, out: make(chan []byte, defaultWSQueueLength), ctx: ctx, cancel: cancel, subs: map[uint64]struct{}{}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		wc.kill()
		return
	}
	s.conns[wc] = struct{}{}
	s.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.writeLoop(wc)
	}()
	go func() { // Read does not end by itself when the writer fails or a slow reader is cut off
		defer wg.Done()
		<-wc.ctx.Done()
		wc.kill()
	}()
	s.readLoop(wc)
	wc.kill()
	wg.Wait()

	s.mu.Lock()
	delete(s.conns, wc)
	for id := range wc.subs {
		delete(s.subs, id)
	}
	s.mu.Unlock()
}

// writeLoop writes queued messages until the connection ends.
func (s *Server) writeLoop(wc *wsConn) {
	for {
		select {
		case <-wc.ctx.Done():
			return
		case msg := <-wc.out:
			if err := wc.c.Write(wc.ctx, websocket.MessageText, msg); err != nil {
				s.log.Debug("solanatest: websocket write", "err", err)
				wc.cancel()
				return
			}
		}
	}
}

// readLoop answers requests until the connection ends.
func (s *Server) readLoop(wc *wsConn) {
	for {
		typ, data, err := wc.c.Read(wc.ctx)
		if err != nil {
			s.log.Debug("solanatest: websocket read", "err", err)
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		s.serveWSMessage(wc, data)
	}
}

// serveWSMessage answers one WebSocket request.
func (s *Server) serveWSMessage(wc *wsConn, data []byte) {
	if !json.Valid(data) {
		wc.enqueue(encodeResponse(nil, nil, &rpcError{Code: codeParseError, Message: "Parse error"}))
		return
	}
	req, rerr := decodeRequest(data)
	if rerr != nil {
		wc.enqueue(encodeResponse(req.ID, nil, rerr))
		return
	}
	s.log.Debug("solanatest: ws request", "method", req.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	kind, unsub, ok := pubsubMethod(req.Method)
	if !ok {
		result, rerr := s.call(req.Method, req.Params)
		wc.enqueue(encodeResponse(req.ID, result, rerr))
		return
	}
	s.calls[req.Method]++
	if s.failRPC[req.Method] > 0 {
		s.failRPC[req.Method]--
		wc.enqueue(encodeResponse(req.ID, nil, &rpcError{Code: codeNodeUnhealthy, Message: "Node is behind"}))
		return
	}
	p, rerr := parseParams(req.Params)
	if rerr != nil {
		wc.enqueue(encodeResponse(req.ID, nil, rerr))
		return
	}
	if unsub {
		ok, rerr := s.unsubscribe(wc, kind, p)
		wc.enqueue(encodeResponse(req.ID, ok, rerr))
		return
	}
	sub, rerr := s.newSubscription(wc, kind, p)
	if rerr != nil {
		wc.enqueue(encodeResponse(req.ID, nil, rerr))
		return
	}
	s.nextSubID++
	sub.id = s.nextSubID
	s.subs[sub.id] = sub
	wc.subs[sub.id] = struct{}{}
	wc.enqueue(encodeResponse(req.ID, sub.id, nil))
	if sub.kind == subSignature {
		s.signatureAtSubscribe(sub)
	}
}

// newSubscription parses a subscribe request's parameters.
func (s *Server) newSubscription(wc *wsConn, kind subKind, p params) (*subscription, *rpcError) {
	sub := &subscription{kind: kind, conn: wc}
	var c config
	var rerr *rpcError
	switch kind {
	case subAccount:
		if sub.key, rerr = p.pubkey(0, "pubkey"); rerr != nil {
			return nil, rerr
		}
		if c, rerr = p.config(1); rerr != nil {
			return nil, rerr
		}
		enc, err := accountEncoding(c.Encoding, encBase58)
		if err != nil {
			return nil, invalidParams("%v", err)
		}
		sub.enc = enc
	case subLogs:
		if rerr = s.logsFilter(sub, p); rerr != nil {
			return nil, rerr
		}
		if c, rerr = p.config(1); rerr != nil {
			return nil, rerr
		}
	case subSignature:
		var str string
		if rerr = p.into(0, "signature", &str); rerr != nil {
			return nil, rerr
		}
		if sub.sig, rerr = parseSignature(str, "signature"); rerr != nil {
			return nil, rerr
		}
		if c, rerr = p.config(1); rerr != nil {
			return nil, rerr
		}
		sub.received = c.EnableReceivedNotification
	}
	if sub.lv, rerr = parseCommitment(c.Commitment); rerr != nil {
		return nil, rerr
	}
	return sub, nil
}

// logsFilter parses logsSubscribe's filter: "all", "allWithVotes" or
// {"mentions":[pubkey]}.
func (s *Server) logsFilter(sub *subscription, p params) *rpcError {
	if !p.present(0) {
		return invalidParams("missing logs filter")
	}
	var name string
	if json.Unmarshal(p[0], &name) == nil {
		if name != "all" && name != "allWithVotes" {
			return invalidParams("unknown logs filter %q", name)
		}
		sub.allLogs = true
		return nil
	}
	var f struct {
		Mentions []string `json:"mentions"`
	}
	if err := json.Unmarshal(p[0], &f); err != nil {
		return invalidParams("logs filter: %v", err)
	}
	if len(f.Mentions) != 1 {
		return &rpcError{Code: codeInvalidParams, Message: "Invalid Request: Only 1 address supported"}
	}
	var rerr *rpcError
	sub.key, rerr = parsePubkey(f.Mentions[0], "mentions")
	return rerr
}

// unsubscribe ends a subscription of this connection and kind.
func (s *Server) unsubscribe(wc *wsConn, kind subKind, p params) (bool, *rpcError) {
	var id uint64
	if rerr := p.into(0, "subscription id", &id); rerr != nil {
		return false, rerr
	}
	sub := s.subs[id]
	if sub == nil || sub.conn != wc || sub.kind != kind {
		return false, &rpcError{Code: codeInvalidParams, Message: "Invalid subscription id."}
	}
	s.dropSub(sub)
	return true, nil
}

// dropSub removes a subscription; the mutex is held.
func (s *Server) dropSub(sub *subscription) {
	delete(s.subs, sub.id)
	delete(sub.conn.subs, sub.id)
}

// signatureAtSubscribe notifies a new signature subscription at once when
// its transaction already reached the commitment, or sends the received
// notification when it is queued and one was asked for.
func (s *Server) signatureAtSubscribe(sub *subscription) {
	t := s.l.txs[sub.sig]
	switch {
	case t == nil:
	case t.landed && t.slot <= s.l.limit(sub.lv):
		s.notify(sub, withContextSlot(t.slot, map[string]any{"err": t.err}))
		s.dropSub(sub)
	case !t.landed && sub.received:
		s.notify(sub, withContextSlot(s.l.newest(), "receivedSignature"))
	}
}

// withContextSlot wraps a notification value in {context:{slot}, value}.
func withContextSlot(slot uint64, value any) map[string]any {
	return map[string]any{"context": map[string]any{"slot": slot}, "value": value}
}

// notify queues a notification for sub; the mutex is held.
func (s *Server) notify(sub *subscription, result any) {
	_, _, method := subMethods(sub.kind)
	msg, err := json.Marshal(notification{
		JSONRPC: notificationJSONVersion,
		Method:  method,
		Params:  notificationParams{Result: result, Subscription: sub.id},
	})
	if err != nil {
		s.log.Error("solanatest: encode notification", "method", method, "err", err)
		return
	}
	sub.conn.enqueue(msg)
}

// sortedSubs returns the subscriptions of a kind in id order.
func (s *Server) sortedSubs(kind subKind) []*subscription {
	var out []*subscription
	for _, sub := range s.subs {
		if sub.kind == kind {
			out = append(out, sub)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// limits returns the newest slot at each commitment level.
func (s *Server) limits() [numLevels]uint64 {
	var out [numLevels]uint64
	for lv := range numLevels {
		out[lv] = s.l.limit(lv)
	}
	return out
}

// advanced sends the notifications of one new slot: produced is its block,
// nil when skipped; old are the limits before it. For each produced slot
// that reached a level (in slot, then level order) come the account, logs
// and signature notifications, then the slot notification and the root
// notifications.
func (s *Server) advanced(old [numLevels]uint64, produced *block) {
	type reached struct {
		b  *block
		lv level
	}
	var events []reached
	now := s.limits()
	for lv := range numLevels {
		for slot := old[lv] + 1; slot <= now[lv]; slot++ {
			if b := s.l.block(slot); b != nil {
				events = append(events, reached{b, lv})
			}
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].b.slot != events[j].b.slot {
			return events[i].b.slot < events[j].b.slot
		}
		return events[i].lv < events[j].lv
	})
	for _, e := range events {
		s.notifyAccounts(e.b, e.lv)
		s.notifyLogs(e.b, e.lv)
		s.notifySignatures(e.b, e.lv)
	}
	if produced != nil {
		for _, sub := range s.sortedSubs(subSlot) {
			s.notify(sub, map[string]any{"parent": produced.parent, "root": s.l.root(), "slot": produced.slot})
		}
	}
	for slot := old[levelFinalized] + 1; slot <= now[levelFinalized]; slot++ {
		if s.l.block(slot) == nil {
			continue
		}
		for _, sub := range s.sortedSubs(subRoot) {
			s.notify(sub, slot)
		}
	}
}

// notifyAccounts notifies the account subscriptions at lv of the accounts
// changed in b.
func (s *Server) notifyAccounts(b *block, lv level) {
	for _, sub := range s.sortedSubs(subAccount) {
		if sub.lv != lv || !slices.Contains(b.changed, sub.key) {
			continue
		}
		st, _ := s.l.stateAt(sub.key, b.slot)
		s.notify(sub, withContextSlot(b.slot, s.l.renderAccount(st, sub.enc, nil)))
	}
}

// notifyLogs notifies the logs subscriptions at lv of b's transactions.
func (s *Server) notifyLogs(b *block, lv level) {
	subs := s.sortedSubs(subLogs)
	for _, t := range b.txs {
		for _, sub := range subs {
			if sub.lv != lv || (!sub.allLogs && !t.mentions(sub.key)) {
				continue
			}
			s.notify(sub, withContextSlot(b.slot, map[string]any{
				"signature": t.sig.String(), "err": t.err, "logs": t.logs,
			}))
		}
	}
}

// notifySignatures notifies (and ends) the signature subscriptions at lv of
// b's transactions.
func (s *Server) notifySignatures(b *block, lv level) {
	subs := s.sortedSubs(subSignature)
	for _, t := range b.txs {
		for _, sub := range subs {
			if sub.lv != lv || sub.sig != t.sig {
				continue
			}
			if _, live := s.subs[sub.id]; !live {
				continue
			}
			s.notify(sub, withContextSlot(b.slot, map[string]any{"err": t.err}))
			s.dropSub(sub)
		}
	}
}
