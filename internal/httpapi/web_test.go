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
