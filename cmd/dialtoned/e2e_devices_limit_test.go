package main

import (
	"errors"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// R6.2 at its edge: with --max-devices-per-user 2, two devices log in and a third is refused
// with 6000293 (then kicked tooManyDevices, §12); a device that reconnects after its network
// dropped, or whose app restarts with the same deviceID, takes its own place and never a
// second one, so the third is still refused; once a device logs out, the third fits.
func TestE2EDevicesLimitAtItsEdgeWithReconnects(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "2")
	proxy := newCutProxy(t, ts.Addr)
	phone := dialAt(t, proxy.URL(), "alice", "phone", client.Options{})
	must(t, second(phone.Login(t.Context(), token(t, "alice"), "phone")))
	laptop := ts.login(t, "alice", "laptop")

	third := func() error {
		d := ts.dial(t, "alice", "tablet", client.Options{})
		defer d.Close()
		_, err := d.Login(t.Context(), token(t, "alice"), "tablet")
		return err
	}
	wantTooMany := func(when string) {
		t.Helper()
		err := third()
		var kick *client.KickError
		if code(err) != client.CodeTooManyDevices && !(errors.As(err, &kick) && kick.Reason == client.KickTooManyDevices) {
			t.Errorf("third device %s: %v, want 6000293", when, err)
		}
	}
	wantTooMany("with two logged in")

	// The phone's network drops; the SDK reconnects with the same deviceID.
	proxy.cutAll()
	phone.until("a reconnect", func() bool {
		n := 0
		for _, s := range phone.states {
			if s == client.Connected {
				n++
			}
		}
		return n >= 2 && phone.states[len(phone.states)-1] == client.Connected
	})
	must(t, second(phone.QueryCallInvitationList(t.Context(), 1, 0)))
	wantTooMany("after the phone reconnected")

	// The laptop's app restarts: a new client of the same device replaces the old one.
	again := ts.login(t, "alice", "laptop")
	laptop.until("the replaced kick", func() bool { return len(laptop.kicks) > 0 })
	if k := laptop.kicks[0]; k.Reason != client.KickReplaced {
		t.Errorf("old laptop client kicked %+v, want replaced", k)
	}
	wantTooMany("after the laptop's app restarted")

	must(t, again.Logout(t.Context()))
	if err := third(); err != nil {
		t.Errorf("third device after the laptop logged out: %v", err)
	}
}
