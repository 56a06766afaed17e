package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/feedd/feedd/plugins"
)

func (d *Daemon) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", d.handleReady)
	mux.HandleFunc("GET /api/v1/sources", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"sources": nonNil(d.sup.Status())})
	})
	mux.HandleFunc("GET /api/v1/chains", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"chains": d.chains.status()})
	})
	d.chsrv.Register(mux)
	if h := d.tel.MetricsHandler(); h != nil {
		mux.Handle("GET /metrics", h)
	}
	if d.Current().Config.Server.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readiness is the body of GET /readyz.
type readiness struct {
	Status    string           `json:"status"`
	NotReady  []string         `json:"not_ready"`
	Instances []plugins.Status `json:"instances"`
}

func (d *Daemon) handleReady(w http.ResponseWriter, r *http.Request) {
	st := d.sup.Status()
	body := readiness{Status: "ready", NotReady: []string{}, Instances: nonNil(st)}
	for _, s := range st {
		if !s.Ready() {
			body.NotReady = append(body.NotReady, s.ID)
		}
	}
	code := http.StatusOK
	if len(body.NotReady) > 0 {
		body.Status = "not ready"
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func nonNil(s []plugins.Status) []plugins.Status {
	if s == nil {
		return []plugins.Status{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
