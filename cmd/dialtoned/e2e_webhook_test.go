package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/webhook"
)

const hookSecret = "hook-secret"

// hookReceiver is a webhook endpoint that fails the first `fail` requests (500), verifies every
// signature and records the bodies it accepted.
type hookReceiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	fail int
	got  []map[string]any
	seen map[string]bool // eventIDs accepted
	// tries counts the requests per eventID, refused ones included.
	tries map[string]int
	poke  chan struct{}
}

func newHookReceiver(t *testing.T, fail int) *hookReceiver {
	h := &hookReceiver{t: t, fail: fail, seen: map[string]bool{}, tries: map[string]int{}, poke: make(chan struct{}, 1)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.Header), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v (%s)", err, body)
		}
		if !operatorVerify([]byte(hookSecret), r.Header.Get("Dialtone-Signature"), body, time.Now()) ||
			r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook request %s %q refused by the receiver of docs/webhooks.md: %s", r.Method, r.Header, body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		id, _ := m["eventID"].(string)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tries[id]++
		if h.fail != 0 {
			if h.fail > 0 {
				h.fail--
			}
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if !h.seen[id] { // at least once: a redelivery is acknowledged and ignored
			h.seen[id] = true
			h.got = append(h.got, m)
		}
		select {
		case h.poke <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) setFail(n int) { h.mu.Lock(); h.fail = n; h.mu.Unlock() }

// events waits for n accepted events and returns the event names of callID in arrival order.
func (h *hookReceiver) events(n int, callID string) ([]string, []map[string]any) {
	h.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		h.mu.Lock()
		enough := len(h.got) >= n
		h.mu.Unlock()
		if enough {
			return h.ofCall(callID)
		}
		select {
		case <-h.poke:
		case <-deadline:
			h.mu.Lock()
			defer h.mu.Unlock()
			h.t.Fatalf("got %d webhook events, want %d: %v", len(h.got), n, h.got)
		}
	}
}

// call waits until a webhook named last of callID is accepted and returns the call's webhooks
// in arrival order. A call's webhooks arrive in commit order, so every earlier one has
// arrived by then; a call_end is the last a call ever gets (R4.4).
func (h *hookReceiver) call(callID, last string) ([]string, []map[string]any) {
	h.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		names, bodies := h.ofCall(callID)
		if slices.Contains(names, last) {
			return names, bodies
		}
		select {
		case <-h.poke:
		case <-deadline:
			h.t.Fatalf("no %s webhook of call %s; got %v", last, callID, names)
		}
	}
}

// ofCall returns the names and bodies of the webhooks of callID accepted so far, in arrival
// order.
func (h *hookReceiver) ofCall(callID string) (names []string, bodies []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.got {
		if m["callID"] == callID {
			names = append(names, m["event"].(string))
			bodies = append(bodies, m)
		}
	}
	return names, bodies
}

// operatorVerify is the receiver's check as docs/webhooks.md gives it, word for word.
func operatorVerify(secret []byte, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hmac.Equal([]byte(sig), []byte(hex.EncodeToString(m.Sum(nil))))
}

func hookFlags(h *hookReceiver) []string {
	return []string{"--webhook-url", h.srv.URL, "--webhook-secret", hookSecret}
}

// Webhooks of one call arrive signed, in order, after a failed first attempt (§10).
func TestE2EWebhooksOrderedSignedRetried(t *testing.T) {
	hooks := newHookReceiver(t, 1)
	ts := startServer(t, hookFlags(hooks)...)
	alice := ts.login(t, "alice", "a")
	bob := ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, ExtendedData: "hi"})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	_, err = bob.CallReject(t.Context(), res.CallID, client.OpConfig{ExtendedData: "busy"})
	must(t, err)

	names, bodies := hooks.events(3, res.CallID)
	if want := []string{"call_create", "call_reject", "call_end"}; !equalStrings(names, want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	create, reject, end := bodies[0], bodies[1], bodies[2]
	if create["caller"] != "alice" || create["timeout"] != float64(30) || create["extendedData"] != "hi" ||
		len(create["users"].([]any)) != 1 || create["mode"] != float64(0) || create["timestamp"].(float64) <= 0 {
		t.Errorf("call_create = %v", create)
	}
	if reject["userID"] != "bob" || reject["extendedData"] != "busy" {
		t.Errorf("call_reject = %v", reject)
	}
	if end["reason"] != "rejected" || end["endTime"].(float64) <= 0 {
		t.Errorf("call_end = %v", end)
	}
	if create["eventID"] == reject["eventID"] || reject["eventID"] == end["eventID"] {
		t.Errorf("eventIDs not unique: %v %v %v", create["eventID"], reject["eventID"], end["eventID"])
	}
}

// Callbacks not yet delivered when the server stops are delivered after a restart (outbox).
func TestE2EWebhooksSurviveRestart(t *testing.T) {
	hooks := newHookReceiver(t, -1) // refuse everything until told otherwise
	first := startServer(t, hookFlags(hooks)...)
	alice := first.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30})
	must(t, err)
	_, err = alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})
	must(t, err)
	first.Stop()

	hooks.setFail(0)
	startServerOn(t, first.Data, hookFlags(hooks)...)
	names, bodies := hooks.events(3, res.CallID)
	if want := []string{"call_create", "call_cancel", "call_end"}; !equalStrings(names, want) {
		t.Fatalf("events after restart %v, want %v", names, want)
	}
	if bodies[1]["reason"] != "caller_cancel" || bodies[1]["operatedUserID"] != "alice" || bodies[2]["reason"] != "cancelled" {
		t.Errorf("cancel/end bodies = %v / %v", bodies[1], bodies[2])
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// docs/operations.md "Retention": callbacks committed while --webhook-url was set stay in the
// outbox through a start without it (which neither sends nor drops them, nor writes new ones),
// and a later start with it sends those still within --webhook-expiry, in order.
func TestE2EWebhooksKeptThroughAStartWithoutTheURL(t *testing.T) {
	hooks := newHookReceiver(t, -1) // refuse everything until told otherwise
	first := startServer(t, hookFlags(hooks)...)
	alice := first.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30})
	must(t, err)
	first.Stop()

	without := startServerOn(t, first.Data)
	alice = without.login(t, "alice", "a")
	must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	other, err := alice.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 30})
	must(t, err)
	without.Stop()

	hooks.setFail(0)
	startServerOn(t, first.Data, hookFlags(hooks)...)
	names, _ := hooks.events(1, res.CallID)
	if want := []string{"call_create"}; !equalStrings(names, want) {
		t.Errorf("callbacks after the start without --webhook-url %v, want %v (none written meanwhile)", names, want)
	}
	if names, _ := hooks.ofCall(other.CallID); len(names) != 0 {
		t.Errorf("callbacks of a call made without --webhook-url: %v", names)
	}
}
