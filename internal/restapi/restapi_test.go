package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// failingInvite is a Backend whose invitations fail with err.
type failingInvite struct {
	Backend // nil: the test calls only Invite
	err     error
}

func (f failingInvite) Invite(context.Context, call.Invite, string) (switchboard.Result, error) {
	return switchboard.Result{}, f.err
}

// A request that fails because the store cannot write (a full disk, an I/O error, a read-only
// file system: switchboard.ErrStorageUnavailable) or because the server is draining is a
// temporary condition: it is answered 503 with Retry-After, so an HTTP client's retry logic
// repeats it, and 6000270 (§8, retryable) with a message that says which. Any other failure
// inside the server is 500 "internal error" (docs/api.md).
func TestStorageFaultIsToldToTheCaller(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		message    string
	}{
		{"disk full", fmt.Errorf("%w: sqlite: commit: database or disk is full (13)", switchboard.ErrStorageUnavailable),
			http.StatusServiceUnavailable, "5", "storage unavailable, retry later"},
		{"draining", fmt.Errorf("invite: %w", switchboard.ErrClosed),
			http.StatusServiceUnavailable, "5", "server is shutting down"},
		{"other", errors.New("sqlite: commit: interrupted (9)"),
			http.StatusInternalServerError, "", "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(string) bool { return true },
				Backend: failingInvite{err: tc.err}})
			req := httptest.NewRequest(http.MethodPost, Prefix+"calls",
				strings.NewReader(`{"userID":"alice","invitees":["bob"],"config":{"timeout":30}}`))
			req.Header.Set("Authorization", "Bearer key")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status {
				t.Fatalf("invite answered %d %q (%v), want %d and a coded error", rec.Code, rec.Body, err, tc.status)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("invite answered %d with Retry-After %q, want %q", rec.Code, got, tc.retryAfter)
			}
			if want := (protocol.Error{Code: protocol.CodeInternal, Message: tc.message}); body.Error != want {
				t.Errorf("invite answered %+v, want %+v", body.Error, want)
			}
		})
	}
}
