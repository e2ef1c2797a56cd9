package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadyzReportsWhyNotReady: /readyz answers 503 with the check's reason while the server
// cannot serve (a database it cannot write: every operation would fail), 200 "ready" once the
// check passes again, and /healthz (liveness) stays 200 meanwhile: restarting the process
// frees no disk.
func TestReadyzReportsWhyNotReady(t *testing.T) {
	var fault error
	mux := http.NewServeMux()
	Routes(mux, func(context.Context) error { return fault })
	get := func(path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, string(body)
	}
	for _, tc := range []struct {
		fault      error
		path       string
		wantStatus int
		wantBody   string
	}{
		{nil, "/readyz", 200, "ready\n"},
		{errors.New("the database cannot be written: disk full"), "/readyz", 503, "not ready: the database cannot be written: disk full\n"},
		{errors.New("the database cannot be written: disk full"), "/healthz", 200, "ok\n"},
		{nil, "/readyz", 200, "ready\n"},
	} {
		fault = tc.fault
		if status, body := get(tc.path); status != tc.wantStatus || body != tc.wantBody {
			t.Errorf("GET %s with fault %v = %d %q, want %d %q", tc.path, tc.fault, status, body, tc.wantStatus, tc.wantBody)
		}
	}
}

// POST /dev/token reads one JSON object, {"user": "…"} (web/README.md): bytes after it are
// no such body and are 400, as the server REST API refuses them (docs/api.md), rather than a
// token for the first object's user.
func TestDevTokenRefusesBytesAfterTheObject(t *testing.T) {
	mux := http.NewServeMux()
	DevRoutes(mux, func(user string) (string, error) { return "token-of-" + user, nil }, func() []string { return nil })
	for body, want := range map[string]int{
		`{"user":"alice"}`:                 200,
		"{\"user\":\"alice\"}\n":           200,
		`{"user":"alice"} x`:               400,
		`{"user":"alice"}{"user":"bob"}`:   400,
		"{\"user\":\"alice\"}\n{}":         400,
		`{"user":"alice"`:                  400,
		`["alice"]`:                        400,
		`{"user":"alice","user":"b b"}`:    400,
		`{"user":"alice"}` + "\x00":        400,
		`{"user":"alice","other":"field"}`: 200,
	} {
		req := httptest.NewRequest(http.MethodPost, "/dev/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Host = "127.0.0.1:3425" // the --dev listener (TestDevRoutesAnswerOnlyLoopbackHosts)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("POST /dev/token %q answered %d %q, want %d", body, rec.Code, rec.Body, want)
		}
	}
}
