package httpapi

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/protocol"
)

// FuzzDevToken posts arbitrary bodies and Content-Types to /dev/token and checks that it never
// panics and answers a token exactly when the request is JSON, within maxDevBody, and one
// object whose user is a valid userID; anything else gets 400, 413 or 415 with a message
// saying what is wrong (DevRoutes).
func FuzzDevToken(f *testing.F) {
	for _, seed := range [][2]string{
		{"application/json", `{"user":"alice"}`},
		{"application/json; charset=utf-8", `{"user":"b\u006fb","extra":[1,{}]}`},
		{"Application/JSON", `{"user":"alice","user":null}`},
		{"text/plain", `{"user":"alice"}`},
		{"application/json; charset=", `{"user":"alice"}`},
		{"application/json", `{"user":"a b"}`},
		{"application/json", `{"user":"alice"} {}`},
		{"application/json", `[{"user":"alice"}]`},
		{"application/json", ``},
		{"application/json", `{"user":"` + strings.Repeat("x", maxDevBody) + `"}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		rec := devToken(contentType, body)
		if want, user := devTokenAnswer(contentType, body); want == http.StatusOK {
			var answer struct{ Token string }
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &answer) != nil || answer.Token != "token-of-"+user {
				t.Fatalf("%q with Content-Type %q answered %d %q, want the token of %q", body, contentType, rec.Code, rec.Body, user)
			}
		} else if rec.Code != want || rec.Body.Len() < len("want x") {
			t.Fatalf("%q with Content-Type %q answered %d %q, want %d saying why", body, contentType, rec.Code, rec.Body, want)
		}
	})
}

// devTokenAnswer returns the status DevRoutes gives a POST /dev/token with contentType and
// body, and the user whose token it answers with 200.
func devTokenAnswer(contentType, body string) (status int, user string) {
	var req struct {
		User string `json:"user"`
	}
	switch mediaType, _, _ := mime.ParseMediaType(contentType); {
	case mediaType != "application/json":
		return http.StatusUnsupportedMediaType, ""
	case len(body) > maxDevBody:
		return http.StatusRequestEntityTooLarge, ""
	case protocol.DecodeData([]byte(body), &req) != nil || !auth.ValidUserID(req.User):
		return http.StatusBadRequest, ""
	}
	return http.StatusOK, req.User
}

// FuzzWebPath requests arbitrary paths with GET, HEAD and POST from Web and checks that it
// never panics, never lists a directory, and answers 200 only to GET or HEAD of a path that
// names one of its files (index.html for /), with that file.
func FuzzWebPath(f *testing.F) {
	for _, p := range []string{"/", "/index.html", "/lib/module.js", "/lib/", "/lib", "/%2e%2e/etc/passwd",
		"/lib/../lib/module.js", "//lib//module.js", "/nosuch", "/lib/module.js/", "/\x00", "/lib/./module.js"} {
		f.Add(p)
	}
	files := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html>")},
		"lib/module.js": {Data: []byte("export {};")},
	}
	mux := http.NewServeMux()
	Web(mux, files)
	f.Fuzz(func(t *testing.T, p string) {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, &http.Request{Method: method, URL: &url.URL{Path: p}, Header: http.Header{}, Host: "localhost"})
			if !slices.Contains([]int{200, 301, 307, 400, 404}, rec.Code) {
				t.Fatalf("%s %q answered %d %q, want a file, a redirect to a clean path, 400 or 404", method, p, rec.Code, rec.Body)
			}
			if rec.Code != http.StatusOK {
				continue
			}
			name := strings.TrimPrefix(p, "/")
			if p == "/" {
				name = "index.html"
			}
			file, ok := files[name]
			if method == http.MethodPost || !ok || method == http.MethodGet && !bytes.Equal(rec.Body.Bytes(), file.Data) {
				t.Fatalf("%s %q answered 200 %q, want 200 only to GET or HEAD of a file by its own name", method, p, rec.Body)
			}
		}
	})
}
