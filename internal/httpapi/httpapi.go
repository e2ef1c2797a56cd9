// Package httpapi serves Dialtone's plain HTTP endpoints beside the WebSocket: liveness
// (/healthz), readiness (/readyz), the browser SDK and demo page (/), and, in --dev only, the
// demo's token and user-list endpoints (/dev/token, /dev/users).
package httpapi

import (
	"net/http"
)

// Routes registers the endpoints on mux. ready reports whether the server accepts traffic
// (false before start-up completes and while draining).
func Routes(mux *http.ServeMux, ready func() bool) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
