package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/clientip"
	"github.com/dialtone/dialtone/protocol"
)

// contentTypes fixes the type of the files served at /, whatever the host's MIME tables say: a
// module script served with any type but JavaScript is refused by browsers.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".ts":   "text/plain; charset=utf-8", // dialtone.d.ts, for reading
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
}

// contentSecurityPolicy is the policy of the files served at /: the demo page loads its
// scripts, styles and connections (fetch and the WebSocket) from its own origin only, has no
// inline script or style, submits no form (its handlers do the work) and may not be framed.
// So a user-controlled string the page shows could run nothing even were it read as HTML.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// Web serves files (the browser SDK and the demo page) at /, index.html for /, with nosniff
// and contentSecurityPolicy. Unknown paths, directories (which are never listed), and methods
// other than GET and HEAD, are 404 (so /dev/ routes outside --dev are 404 too).
func Web(mux *http.ServeMux, files fs.FS) {
	fileServer := http.FileServerFS(files)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		name := r.URL.Path
		if name == "/" {
			name = "/index.html"
		}
		if isDir(files, name) {
			http.NotFound(w, r)
			return
		}
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// isDir reports whether the URL path name (rooted, not necessarily clean) names a directory
// of files; a path that names nothing is not one.
func isDir(files fs.FS, name string) bool {
	rel := strings.TrimPrefix(path.Clean(name), "/")
	if rel == "" {
		rel = "."
	}
	info, err := fs.Stat(files, rel)
	return err == nil && info.IsDir()
}

// maxDevBody bounds the body of POST /dev/token.
const maxDevBody = 4 << 10

// DevRoutes registers the demo's development-only endpoints; register them only in --dev.
//
//   - POST /dev/token {"user": "alice"} → {"token": "…"}: a login token for any valid userID
//     (behaviour §1), minted by mint; 400 for an invalid user or a body that is not one JSON
//     object, 413 for a body over maxDevBody (4 KiB). The request must be JSON (Content-Type
//     application/json), which keeps other sites' forms from calling it.
//   - GET /dev/users → {"users": ["alice", …]}: the users who logged in since start (the 1,000
//     most recent).
//
// Both answer 403 to a request whose Host is not a loopback name or address (loopbackOnly).
func DevRoutes(mux *http.ServeMux, mint func(user string) (string, error), users func() []string) {
	mux.HandleFunc("POST /dev/token", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			http.Error(w, "want Content-Type: application/json", http.StatusUnsupportedMediaType)
			return
		}
		var req struct {
			User string `json:"user"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDevBody))
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			http.Error(w, "the body is over 4 KiB", http.StatusRequestEntityTooLarge)
			return
		}
		if err == nil { // one JSON object, read as the protocol reads an op's data: nothing after it
			err = protocol.DecodeData(body, &req)
		}
		if err != nil {
			http.Error(w, "want {\"user\": \"…\"}", http.StatusBadRequest)
			return
		}
		if !auth.ValidUserID(req.User) {
			http.Error(w, "invalid user name: 1–32 letters, digits or !#$%&()+-:;<=.>?@[]^_{}|~", http.StatusBadRequest)
			return
		}
		token, err := mint(req.User)
		if err != nil {
			http.Error(w, "cannot mint a token", http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]string{"token": token})
	}))
	mux.HandleFunc("GET /dev/users", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		list := users()
		if list == nil {
			list = []string{}
		}
		writeJSON(w, map[string][]string{"users": list})
	}))
}

// loopbackOnly returns h refusing with 403 a request whose Host header names no loopback host
// (clientip.Loopback; a port is allowed). The --dev listener is on loopback, but a page of
// another site whose name the attacker re-points to 127.0.0.1 after it loaded (DNS rebinding)
// reaches it as its own origin and could read a token; such a request carries the site's
// name as Host.
func loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !clientip.Loopback(host) {
			http.Error(w, "the --dev endpoints answer only requests to localhost, 127.0.0.1 or [::1]", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
