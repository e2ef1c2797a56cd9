package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// failingInvite is a Backend whose invitations fail with the store's error for a full disk.
type failingInvite struct {
	Backend // nil: the test calls only Invite
}

func (failingInvite) Invite(context.Context, call.Invite, string) (switchboard.Result, error) {
	return switchboard.Result{}, errors.New("sqlite: commit: database or disk is full (13)")
}

// A request that fails while the store reports that the database cannot be written (a full
// disk, an I/O error, a read-only file system) is answered 500 and 6000270 (§8, retryable)
// with a message that says so, "storage unavailable, retry later"; once the store takes writes
// again, a request that fails inside the server is back to "internal error" (docs/api.md).
func TestStorageFaultIsToldToTheCaller(t *testing.T) {
	var faulty atomic.Bool
	faulty.Store(true)
	storageFault := func() error {
		if faulty.Load() {
			return errors.New("the database cannot be written: disk full")
		}
		return nil
	}
	mux := http.NewServeMux()
	h := Routes(mux, Config{APIKey: "key", ValidUserID: func(string) bool { return true },
		Backend: failingInvite{}, StorageFault: storageFault})
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
	faulty.Store(false)
	want.Message = "internal error"
	if got := invite(); got != want {
		t.Errorf("invite once the disk takes writes answered %+v, want %+v", got, want)
	}
}
