package solanatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
)

// Options configure New.
type Options struct {
	// Addr is the listen address of both HTTP JSON-RPC and WebSocket
	// pubsub (same port and path "/"); default "127.0.0.1:0".
	Addr string
	// SlotInterval, when positive, makes the server produce a slot every
	// interval in a goroutine it owns; zero: slots advance only when the
	// caller calls Produce or Skip.
	SlotInterval time.Duration
	// ConfirmDepth is how many later slots (skipped ones included) make a
	// slot confirmed; default 1.
	ConfirmDepth uint64
	// FinalizeDepth is how many later slots make a slot finalized
	// (rooted); default 3 (or ConfirmDepth when that is larger). It must
	// be >= ConfirmDepth.
	FinalizeDepth uint64
	// Logger receives debug logs of requests; nil discards them.
	Logger *slog.Logger
}

// Server is a fake Solana node listening on loopback. Its methods are safe
// for concurrent use. Close stops everything it started.
type Server struct {
	log  *slog.Logger
	ln   net.Listener
	http *http.Server

	stopSlots context.CancelFunc
	slotsDone chan struct{}
	serveDone chan struct{}
	closeOnce sync.Once
	handlers  sync.WaitGroup // running HTTP handlers, WebSocket ones included

	mu        sync.Mutex // guards everything below
	l         *ledger
	closed    bool
	conns     map[*wsConn]struct{}
	subs      map[uint64]*subscription
	nextSubID uint64
	rateLimit int
	failRPC   map[string]int
	calls     map[string]int
}

// New starts a Server listening on opts.Addr, holding the genesis block at
// slot 0 (processed, confirmed and finalized) and a funded faucet.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.ConfirmDepth == 0 {
		opts.ConfirmDepth = 1
	}
	if opts.FinalizeDepth == 0 {
		opts.FinalizeDepth = max(3, opts.ConfirmDepth)
	}
	if opts.FinalizeDepth < opts.ConfirmDepth {
		return nil, fmt.Errorf("solanatest: FinalizeDepth %d is below ConfirmDepth %d", opts.FinalizeDepth, opts.ConfirmDepth)
	}
	if opts.SlotInterval < 0 {
		return nil, fmt.Errorf("solanatest: negative SlotInterval %v", opts.SlotInterval)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("solanatest: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		log:       log,
		ln:        ln,
		l:         newLedger(opts.ConfirmDepth, opts.FinalizeDepth, time.Now()),
		conns:     map[*wsConn]struct{}{},
		subs:      map[uint64]*subscription{},
		failRPC:   map[string]int{},
		calls:     map[string]int{},
		serveDone: make(chan struct{}),
		slotsDone: make(chan struct{}),
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.serveDone)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("solanatest: serve", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSlots = cancel
	if opts.SlotInterval > 0 {
		go s.produceEvery(ctx, opts.SlotInterval)
	} else {
		close(s.slotsDone)
	}
	log.Debug("solanatest: listening", "addr", ln.Addr().String())
	return s, nil
}

// produceEvery produces a slot every interval until ctx ends.
func (s *Server) produceEvery(ctx context.Context, interval time.Duration) {
	defer close(s.slotsDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Produce(1)
		}
	}
}

// RPCURL returns the HTTP JSON-RPC URL, "http://127.0.0.1:port".
func (s *Server) RPCURL() string { return "http://" + s.ln.Addr().String() }

// WSURL returns the WebSocket pubsub URL, "ws://127.0.0.1:port".
func (s *Server) WSURL() string { return "ws://" + s.ln.Addr().String() }

// Close stops the slot goroutine, the listener and every connection, and
// returns once all goroutines the Server started have ended. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.stopSlots()
		<-s.slotsDone
		s.mu.Lock()
		s.closed = true
		conns := s.connList()
		s.mu.Unlock()
		_ = s.http.Close() // closes the listener and the non-WebSocket connections
		for _, c := range conns {
			c.kill()
		}
		s.handlers.Wait()
		<-s.serveDone
	})
}

// handle serves one HTTP request: a WebSocket upgrade or a JSON-RPC POST.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	if isWebSocketUpgrade(r) {
		s.serveWS(w, r)
		return
	}
	s.serveHTTP(w, r)
}

// queued notifies the signature subscriptions that asked for received
// notifications of a newly queued transaction and returns its signature.
// The mutex is held.
func (s *Server) queued(t *txRecord) solana.Signature {
	for _, sub := range s.sortedSubs(subSignature) {
		if sub.sig == t.sig && sub.received {
			s.notify(sub, withContextSlot(s.l.newest(), "receivedSignature"))
		}
	}
	return t.sig
}

// Airdrop queues a transfer of lamports from the faucet to to and returns
// its signature; it lands in the next produced slot.
func (s *Server) Airdrop(to solana.PublicKey, lamports uint64) solana.Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued(s.l.transfer(s.l.faucet, to, lamports))
}

// Transfer queues a system transfer of lamports from from to to, paid by
// from (fee 5000 lamports), and returns its signature. When from holds too
// few lamports the transaction lands failed, still charging the fee.
func (s *Server) Transfer(from, to solana.PublicKey, lamports uint64) solana.Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued(s.l.transfer(from, to, lamports))
}

// CreateMint creates a mint with decimals owned by program
// (solana.TokenProgramID or solana.Token2022ProgramID) and a funded mint
// authority, and returns its address. The mint account lands in the next
// produced slot; it has no transaction. MintTo may use it at once.
func (s *Server) CreateMint(decimals uint8, program solana.PublicKey) solana.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.createMint(decimals, program)
}

// MintTo queues a MintToChecked of amount to owner's token account of mint,
// creating the account (a fresh address) in the same transaction when
// missing; the mint authority pays. It returns the token account and the
// signature. An unknown mint makes a failed transaction.
func (s *Server) MintTo(mint, owner solana.PublicKey, amount uint64) (tokenAccount solana.PublicKey, sig solana.Signature) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ta, t := s.l.mintTo(mint, owner, amount)
	return ta, s.queued(t)
}

// TokenTransfer queues a TransferChecked of amount between fromOwner's and
// toOwner's token accounts of mint, creating the destination account in
// the same transaction when missing; fromOwner pays the fee. A missing
// source account or a short balance lands failed (custom error 1).
func (s *Server) TokenTransfer(mint, fromOwner, toOwner solana.PublicKey, amount uint64) solana.Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued(s.l.tokenTransfer(mint, fromOwner, toOwner, amount))
}

// FailTx queues a transaction paid by payer that lands with err
// {"InstructionError":[0,{"Custom":1}]}; the fee is still charged and the
// logs end with "Program … failed: custom program error: 0x1".
func (s *Server) FailTx(payer solana.PublicKey) solana.Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued(s.l.failTx(payer))
}

// Produce produces n slots, each with a block; the first holds every
// queued transaction. It sends the notifications the new slots cause and
// returns the newest slot.
func (s *Server) Produce(n int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		old := s.limits()
		b := s.l.produce(time.Now())
		s.advanced(old, b)
	}
	return s.l.newest()
}

// Skip adds n skipped slots (no block); they still count towards the
// confirmation and finalization depth of earlier slots. It returns the
// newest slot.
func (s *Server) Skip(n int) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		old := s.limits()
		s.l.skip()
		s.advanced(old, nil)
	}
	return s.l.newest()
}

// Slot returns the newest (processed) slot, skipped slots included.
func (s *Server) Slot() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.newest()
}

// Balance returns a's lamports as of the newest slot (queued transactions
// excluded).
func (s *Server) Balance(a solana.PublicKey) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _ := s.l.stateAt(a, s.l.newest())
	return st.lamports
}

// TokenBalance returns a token account's amount as of the newest slot, 0
// when it is not a token account.
func (s *Server) TokenBalance(tokenAccount solana.PublicKey) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _ := s.l.stateAt(tokenAccount, s.l.newest())
	return st.token.amount
}

// BlockHeight returns the height of the newest block: the genesis block
// has height 0 and each produced block adds one.
func (s *Server) BlockHeight() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.blocks[len(s.l.blocks)-1].height
}

// RateLimit makes the next n HTTP requests (a batch counts once) answer
// HTTP 429 with header Retry-After: 1 and a JSON-RPC error body (code
// 429).
func (s *Server) RateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = max(n, 0)
}

// FailRPC makes the next n calls of method, over HTTP or WebSocket, answer
// the JSON-RPC error {"code":-32005,"message":"Node is behind"}.
func (s *Server) FailRPC(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRPC[method] = max(n, 0)
}

// Calls returns how many calls of method were answered so far over HTTP or
// WebSocket, FailRPC failures included and rate-limited requests excluded.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Subscriptions returns the number of active subscriptions over all
// connections.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// DropConnections closes every open WebSocket connection abruptly, without
// a close frame; their subscriptions end. New connections are accepted.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}

// Inject sends raw as a text message on every open WebSocket connection,
// after the messages already queued on it.
func (s *Server) Inject(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.connList() {
		c.enqueue(append([]byte(nil), raw...))
	}
}

// call serves one ordinary or failing call of method; the mutex is held.
func (s *Server) call(methodName string, rawParams []byte) (any, *rpcError) {
	s.calls[methodName]++
	if s.failRPC[methodName] > 0 {
		s.failRPC[methodName]--
		return nil, &rpcError{Code: codeNodeUnhealthy, Message: "Node is behind"}
	}
	h := lookupMethod(methodName)
	if h == nil {
		return nil, &rpcError{Code: codeMethodNotFound, Message: "Method not found"}
	}
	p, err := parseParams(rawParams)
	if err != nil {
		return nil, err
	}
	return h(s, p)
}
