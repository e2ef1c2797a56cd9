package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// recordedSessions is a Sessions that counts the users it logs out.
type recordedSessions struct{ loggedOut atomic.Int32 }

func (s *recordedSessions) LogoutUser(context.Context, string) { s.loggedOut.Add(1) }

// countedLosses is a Backend that counts the users whose devices its LogoutUser loses.
type countedLosses struct {
	Backend // nil: the test calls only LogoutUser
	lost    atomic.Int32
}

func (b *countedLosses) LogoutUser(context.Context, string) error {
	b.lost.Add(1)
	return nil
}

// unwritablePushTargets cannot drop push targets: the store cannot write.
type unwritablePushTargets struct{}

func (unwritablePushTargets) DeletePushTargets(context.Context, string, string) error {
	return fmt.Errorf("%w: sqlite: delete push targets: disk I/O error (10)", switchboard.ErrStorageUnavailable)
}

// A logout (docs/api.md) whose push targets cannot be dropped (§9) changes nothing: it is
// answered 503 with 6000270 before any session is kicked or device lost, and repeating it once
// the store writes again logs the user out.
func TestLogoutThatCannotDropPushTargetsChangesNothing(t *testing.T) {
	sessions, backend := &recordedSessions{}, &countedLosses{}
	h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(string) bool { return true },
		Backend: backend, Sessions: sessions, PushTargets: unwritablePushTargets{}})
	rec := logoutAlice(h)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("logout answered %d %q, want 503", rec.Code, rec.Body)
	}
	if n := sessions.loggedOut.Load(); n != 0 {
		t.Errorf("the failed logout kicked the user's sessions %d times, want none", n)
	}
	if n := backend.lost.Load(); n != 0 {
		t.Errorf("the failed logout lost the user's devices %d times, want none", n)
	}
}

// waitingInvite is a Backend whose invitations wait for their context to end, as a commit
// waits its turn, and fail with its error.
type waitingInvite struct {
	Backend // nil: the test calls only Invite
}

func (waitingInvite) Invite(ctx context.Context, _ call.Invite, _ string) (switchboard.Result, error) {
	<-ctx.Done()
	return switchboard.Result{}, fmt.Errorf("invite: %w", ctx.Err())
}

// A request whose caller hung up before it was carried out fails with its context's error,
// which is no fault of the server's: it is not logged at ERROR, the level that tells an
// operator the disk or the database fails (docs/operations.md, "The log").
func TestRequestAbandonedByItsCallerIsNoServerError(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(string) bool { return true },
		Backend: waitingInvite{}, Log: log})
	ctx, hangUp := context.WithCancel(t.Context())
	hangUp()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, Prefix+"calls",
		strings.NewReader(`{"userID":"alice","invitees":["bob"]}`))
	req.Header.Set("Authorization", "Bearer key")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Errorf("a request its caller abandoned was logged as a server error: %s", logged.String())
	}
	if !strings.Contains(logged.String(), "context canceled") {
		t.Errorf("log %q does not say the request was abandoned", logged.String())
	}
}

// memoryPushTargets is a PushTargets holding the users with push registrations.
type memoryPushTargets struct {
	mu    sync.Mutex
	users map[string]bool
}

func (m *memoryPushTargets) put(userID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[userID] = true
}

func (m *memoryPushTargets) has(userID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users[userID]
}

func (m *memoryPushTargets) DeletePushTargets(_ context.Context, userID, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, userID)
	return nil
}

// registeringSessions is a Sessions whose logout finds a push registration of the user in
// flight on a session it kicks: Sessions.LogoutUser waits for the ops in flight, and this one
// commits meanwhile.
type registeringSessions struct{ targets *memoryPushTargets }

func (s registeringSessions) LogoutUser(_ context.Context, userID string) { s.targets.put(userID) }

// docs/api.md logout, §9, docs/behaviour.md §12 ("After a kick"): the API's logout drops the
// user's push targets, also one a device registered by a request still being carried out when
// its session was kicked, so no logged-out device goes on being pushed the user's invitations.
func TestLogoutDropsPushTargetsRegisteredMeanwhile(t *testing.T) {
	targets := &memoryPushTargets{users: map[string]bool{"alice": true}}
	h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(string) bool { return true },
		Backend: &countedLosses{}, Sessions: registeringSessions{targets}, PushTargets: targets})
	rec := logoutAlice(h)
	if rec.Code != http.StatusOK {
		t.Fatalf("logout answered %d %q, want 200", rec.Code, rec.Body)
	}
	if targets.has("alice") {
		t.Error("alice has a push target after the logout: the one registered while her session was being logged out")
	}
}

// docs/api.md "Errors": each code the table lists is answered with the first status whose row
// lists it (the later rows, 405, 413 and 503, are the special answers of handle, notAllowed
// and writeFailure, tested where they are made).
func TestStatusIsTheDocumentedOne(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, errs, _ := strings.Cut(string(b), "| status | codes |")
	errs, _, _ = strings.Cut(errs, "\n\n")
	row := regexp.MustCompile(`(?m)^\| (\d{3}) \| (.*) \|$`)
	seen := map[protocol.Code]bool{}
	for _, m := range row.FindAllStringSubmatch(errs, -1) {
		status, _ := strconv.Atoi(m[1])
		for _, c := range regexp.MustCompile(`\b600\d{4}\b`).FindAllString(m[2], -1) {
			n, _ := strconv.Atoi(c)
			code := protocol.Code(n)
			if seen[code] {
				continue
			}
			seen[code] = true
			if got := Status(code); got != status {
				t.Errorf("code %d is answered %d, docs/api.md says %d", code, got, status)
			}
		}
	}
	if len(seen) < 10 {
		t.Fatalf("read %d codes from docs/api.md's error table, want every code it lists", len(seen))
	}
}

// logoutAlice sends h the REST logout of alice with the API key "key" and returns the answer.
func logoutAlice(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Prefix+"users/alice/logout", nil)
	req.Header.Set("Authorization", "Bearer key")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
