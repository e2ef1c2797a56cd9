// Package httpapi serves Dialtone's plain HTTP endpoints beside the WebSocket: liveness
// (/healthz), readiness (/readyz), the browser SDK and demo page (/), and, in --dev only, the
// demo's token and user-list endpoints (/dev/token, /dev/users).
package httpapi

import (
	"context"
	"net/http"
)

// Routes registers the endpoints on mux. ready returns nil while the server takes traffic, or
// why it does not (starting, draining, a database it cannot write), which /readyz answers
// with 503 "not ready: <reason>". It is given the request's context and must not block past
// it. /healthz (liveness) asks nothing: a restart would not cure what ready reports.
func Routes(mux *http.ServeMux, ready func(ctx context.Context) error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
