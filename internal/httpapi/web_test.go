package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// TestWebListsNoDirectory: Web serves files only. A directory of the files it is given, with
// or without its trailing slash, is an unknown path (404), not a listing of what it holds, and
// no path reaches outside the files; a file inside a directory is served with its type.
func TestWebListsNoDirectory(t *testing.T) {
	files := fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html>")},
		"lib/module.js":   {Data: []byte("export {};")},
		"lib/deep/one.js": {Data: []byte("export {};")},
	}
	mux := http.NewServeMux()
	Web(mux, files)
	for _, tc := range []struct {
		path       string
		wantStatus int
		wantType   string
	}{
		{"/", 200, "text/html; charset=utf-8"},
		{"/lib/module.js", 200, "text/javascript; charset=utf-8"},
		{"/lib/", 404, ""},
		{"/lib", 404, ""},
		{"/lib/deep/", 404, ""},
		{"/lib/%2e%2e/lib/", 404, ""},
		{"/%2e%2e/etc/passwd", 404, ""},
		{"/lib/%2e%2e/%2e%2e/etc/passwd", 404, ""},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.wantStatus {
			t.Errorf("GET %s = %d %q, want %d", tc.path, rec.Code, rec.Body, tc.wantStatus)
			continue
		}
		if tc.wantType != "" && rec.Header().Get("Content-Type") != tc.wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, rec.Header().Get("Content-Type"), tc.wantType)
		}
		if strings.Contains(rec.Body.String(), "module.js") || strings.Contains(rec.Body.String(), "deep") {
			t.Errorf("GET %s lists a directory: %q", tc.path, rec.Body)
		}
	}
}

// The --dev routes answer only requests addressed to a loopback host (localhost, 127.0.0.1,
// ::1, with or without a port). A page of another site whose name the attacker turns to
// 127.0.0.1 once it has loaded (DNS rebinding) reaches the loopback listener as its own
// origin, with its own name as Host: it gets 403, not a token signed with the server's
// secret (docs/operations.md "What the network can reach").
func TestDevRoutesAnswerOnlyLoopbackHosts(t *testing.T) {
	mux := http.NewServeMux()
	DevRoutes(mux, func(user string) (string, error) { return "token-of-" + user, nil }, func() []string { return []string{"alice"} })
	for host, want := range map[string]int{
		"127.0.0.1:3425":      200,
		"localhost:3425":      200,
		"LOCALHOST":           200,
		"[::1]:3425":          200,
		"127.0.0.2":           200,
		"attacker.example":    403,
		"attacker.example:80": 403,
		"10.0.0.1:3425":       403,
		"localhost.evil:3425": 403,
		"":                    403,
	} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			target := "/dev/token"
			if method == http.MethodGet {
				target = "/dev/users"
			}
			req := httptest.NewRequest(method, target, strings.NewReader(`{"user":"alice"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Host = host
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("%s %s with Host %q = %d %q, want %d", method, target, host, rec.Code, rec.Body, want)
			}
		}
	}
}

// devToken posts body with contentType to /dev/token of routes whose tokens are "token-of-"
// and the user, from a loopback host.
func devToken(contentType, body string) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	DevRoutes(mux, func(user string) (string, error) { return "token-of-" + user, nil }, func() []string { return nil })
	req := httptest.NewRequest(http.MethodPost, "/dev/token", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// A body over maxDevBody is refused for its size (413, saying so), not as if it were no JSON
// object: the client is told what to fix.
func TestDevTokenRefusesAnOversizeBodyForItsSize(t *testing.T) {
	body := `{"user":"alice","pad":"` + strings.Repeat("x", maxDevBody) + `"}`
	rec := devToken("application/json", body)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "4 KiB") {
		t.Fatalf("a body of %d bytes answered %d %q, want 413 naming the limit of 4 KiB", len(body), rec.Code, rec.Body)
	}
	if rec := devToken("application/json", `{"user":"alice"}`); rec.Code != http.StatusOK {
		t.Fatalf("a body within the limit answered %d %q, want 200", rec.Code, rec.Body)
	}
}
