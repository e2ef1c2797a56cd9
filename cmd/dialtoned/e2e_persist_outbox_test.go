package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// §9, §10 and docs/webhooks.md, docs/push.md across a hard kill: callbacks and an invitation
// push committed before a SIGKILL, which their receivers refused until then, are delivered by
// the next process, in order per call (webhooks) and per call and user (pushes); the push is
// sent once, and the withdrawal that a cancel after the restart sends follows it.
func TestE2EPersistOutboxAcrossAKill(t *testing.T) {
	hooks := newHookReceiver(t, -1) // refuse every callback until told otherwise
	pushes := newPushService(t)
	pushes.fail = 1 << 30 // and every push
	ts := startKillable(t, append(hookFlags(hooks), "--push-webhook-url", pushes.srv.URL)...)

	frank, _ := ts.rawLogin(t, "frank", "f", -1)
	frank.send(`{"id":2,"op":"pushRegister","data":{"provider":"webhook","token":"frank-phone"}}`)
	if f := frank.reply(2); f.Error != nil {
		t.Fatalf("pushRegister: %+v", f)
	}
	frank.conn.CloseNow()
	waitMetric(t, ts.testServer, "dialtone_sessions ", "dialtone_sessions 0")

	erin, _ := ts.rawLogin(t, "erin", "e", -1)
	erin.send(`{"id":2,"op":"callInvite","data":{"invitees":["frank"],"config":{"timeout":60,"pushConfig":{"title":"Erin"}}}}`)
	var res protocol.CallInviteResult
	if f := erin.reply(2); f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
		t.Fatalf("invite: %+v", f)
	}
	pushes.waitRefused(1)
	hooks.until(res.CallID, 1)

	ts.kill()
	pushes.setFail(0)
	hooks.setFail(0)
	ts.restart()

	hooks.call(res.CallID, "call_create")
	pushes.wait(1)
	erin, _ = ts.rawLogin(t, "erin", "e", -1)
	erin.send(fmt.Sprintf(`{"id":2,"op":"callCancel","data":{"callID":%q}}`, res.CallID))
	if f := erin.reply(2); f.Error != nil {
		t.Fatalf("cancel after the restart: %+v", f)
	}
	names, _ := hooks.call(res.CallID, "call_end")
	if want := []string{"call_create", "call_cancel", "call_end"}; !equalStrings(names, want) {
		t.Errorf("webhooks of the call across the kill %v, want %v (§10)", names, want)
	}
	pushes.wait(2)
	var kinds []string
	for _, b := range pushes.forCall(res.CallID) {
		kinds = append(kinds, b.Message.Kind+" "+b.Target.Token)
	}
	if want := []string{"invitation frank-phone", "withdrawal frank-phone"}; !equalStrings(kinds, want) {
		t.Errorf("pushes of the call across the kill %q, want %q (§9)", kinds, want)
	}
}

// until waits until callID has had n callback requests, refused ones included (an eventID is
// callID.version.index).
func (h *hookReceiver) until(callID string, n int) {
	h.t.Helper()
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		tried := 0
		for id, k := range h.tries {
			if strings.HasPrefix(id, callID+".") {
				tried += k
			}
		}
		h.mu.Unlock()
		if tried >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d callback requests of call %s, want %d", tried, callID, n)
		}
	}
}
