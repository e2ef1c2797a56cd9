package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// failingInvite is a Backend whose invitations fail with the store's error for a full disk
// while full is set, and with another error of the store otherwise.
type failingInvite struct {
	Backend // nil: the test calls only Invite
	full    *atomic.Bool
}

func (f failingInvite) Invite(context.Context, call.Invite, string) (switchboard.Result, error) {
	if f.full.Load() {
		return switchboard.Result{}, fmt.Errorf("%w: sqlite: commit: database or disk is full (13)", switchboard.ErrStorageUnavailable)
	}
	return switchboard.Result{}, errors.New("sqlite: commit: interrupted (9)")
}

// A request that fails because the store cannot write (a full disk, an I/O error, a read-only
// file system: switchboard.ErrStorageUnavailable) is answered 500 and 6000270 (§8, retryable)
// with a message that says so, "storage unavailable, retry later"; any other failure inside
// the server is "internal error" (docs/api.md).
func TestStorageFaultIsToldToTheCaller(t *testing.T) {
	var full atomic.Bool
	full.Store(true)
	mux := http.NewServeMux()
	h := Routes(mux, Config{APIKey: "key", ValidUserID: func(string) bool { return true },
		Backend: failingInvite{full: &full}})
	invite := func() protocol.Error {
		req := httptest.NewRequest(http.MethodPost, Prefix+"calls",
			strings.NewReader(`{"userID":"alice","invitees":["bob"],"config":{"timeout":30}}`))
		req.Header.Set("Authorization", "Bearer key")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusInternalServerError {
			t.Fatalf("invite answered %d %q (%v), want 500 and a coded error", rec.Code, rec.Body, err)
		}
		return body.Error
	}
	want := protocol.Error{Code: protocol.CodeInternal, Message: "storage unavailable, retry later"}
	if got := invite(); got != want {
		t.Errorf("invite on a full disk answered %+v, want %+v", got, want)
	}
	full.Store(false)
	want.Message = "internal error"
	if got := invite(); got != want {
		t.Errorf("invite failing for another reason answered %+v, want %+v", got, want)
	}
}
