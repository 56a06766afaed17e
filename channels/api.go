package channels

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxPublishBody bounds a POST /api/v1/publish body.
const maxPublishBody = 1 << 20

type channelInfo struct {
	Channel  string          `json:"channel"`
	Epoch    string          `json:"epoch"`
	Offset   uint64          `json:"offset"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// handleChannel answers GET /api/v1/channels/{channel}.
func (s *Server) handleChannel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("channel")
	canon, ns, err := s.hub.Resolve(name)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Who may read comes first: a caller without access must not learn
	// whether the channel has data.
	if ns.needsToken() {
		ident, err := s.httpIdentity(r)
		if err != nil {
			apiError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if !ns.claimsAllow(&ident, canon) {
			apiError(w, http.StatusForbidden, "the token's channels claim does not allow "+name)
			return
		}
	}
	_, pos, snap, found, err := s.hub.Latest(r.Context(), name)
	switch {
	case err != nil:
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	case !found:
		apiError(w, http.StatusNotFound, "channel "+name+" has no data")
		return
	}
	if snap == nil {
		snap = json.RawMessage("null")
	}
	writeAPI(w, http.StatusOK, channelInfo{Channel: name, Epoch: pos.Epoch, Offset: pos.Offset, Snapshot: snap})
}

func (s *Server) httpIdentity(r *http.Request) (Identity, error) {
	tok := requestToken(r)
	if tok == "" {
		return Identity{}, errors.New("this channel needs a token")
	}
	return s.verify(tok)
}

// requestToken returns the token of a request: the bearer token, else the
// token query parameter (browsers cannot set headers on a WebSocket).
func requestToken(r *http.Request) string {
	if tok := bearer(r); tok != "" {
		return tok
	}
	return r.URL.Query().Get("token")
}

// verify checks a token, counting a refusal; its errors are what a client
// is told.
func (s *Server) verify(tok string) (Identity, error) {
	if s.verifier == nil {
		return Identity{}, errors.New("this server accepts no tokens")
	}
	id, err := s.verifier.Verify(tok)
	if err != nil {
		s.metrics.authFailure(err)
		return Identity{}, fmt.Errorf("token refused: %w", err)
	}
	return id, nil
}

type publication struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

type publishRequest struct {
	Channel      string          `json:"channel"`
	Data         json.RawMessage `json:"data"`
	Publications []publication   `json:"publications"`
}

type publishResult struct {
	Channel string `json:"channel"`
	Epoch   string `json:"epoch"`
	Offset  uint64 `json:"offset"`
}

// validKey reports whether key is one of the configured API keys.
func (s *Server) validKey(key string) bool {
	ok := false
	for _, k := range s.opts.APIKeys {
		if k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			ok = true
		}
	}
	return ok
}

// handlePublish answers POST /api/v1/publish. Every publication is checked
// before any is published.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	if !s.validKey(bearer(r)) {
		apiError(w, http.StatusUnauthorized, "missing or invalid API key (Authorization: Bearer <key>)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPublishBody))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxPublishBody))
		return
	}
	var req publishRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	pubs := req.Publications
	prefix := "publications"
	switch {
	case req.Channel != "" || req.Data != nil:
		if pubs != nil {
			apiError(w, http.StatusBadRequest, "give either channel and data, or publications")
			return
		}
		pubs = []publication{{Channel: req.Channel, Data: req.Data}}
		prefix = ""
	case len(pubs) == 0:
		apiError(w, http.StatusBadRequest, "publications: want channel and data, or a non-empty publications list")
		return
	}
	field := func(i int, f string) string {
		if prefix == "" {
			return f
		}
		return fmt.Sprintf("%s[%d].%s", prefix, i, f)
	}
	for i, p := range pubs {
		if p.Channel == "" {
			apiError(w, http.StatusBadRequest, field(i, "channel")+": required")
			return
		}
		_, ns, err := s.hub.Resolve(p.Channel)
		if err != nil {
			apiError(w, http.StatusBadRequest, field(i, "channel")+": "+err.Error())
			return
		}
		if !ns.PublishAPI {
			apiError(w, http.StatusForbidden, fmt.Sprintf("%s: namespace %q does not accept publications from the API", field(i, "channel"), ns.Name))
			return
		}
		if len(p.Data) == 0 || string(p.Data) == "null" {
			apiError(w, http.StatusBadRequest, field(i, "data")+": required")
			return
		}
	}
	out := struct {
		Results []publishResult `json:"results"`
	}{Results: make([]publishResult, 0, len(pubs))}
	for _, p := range pubs {
		pub, err := s.hub.Publish(r.Context(), p.Channel, p.Data, nil)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, "publish to "+p.Channel+": "+err.Error())
			return
		}
		out.Results = append(out.Results, publishResult{Channel: p.Channel, Epoch: pub.Epoch, Offset: pub.Offset})
	}
	writeAPI(w, http.StatusOK, out)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeAPI(w, code, map[string]string{"error": msg})
}

func writeAPI(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
