package main

import (
	"errors"
	"sync"
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

// R6.2: two new devices log in at the same moment for the one place left: exactly one gets
// it, the other gets 6000293; two connections of one new device at that moment both log in,
// the later replacing the earlier, and take one place.
func TestE2EDevicesLimitRaces(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "2")
	ts.login(t, "alice", "phone")
	logins := func(ids ...string) []error {
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			d := ts.dial(t, "alice", id, client.Options{})
			wg.Go(func() {
				_, errs[i] = d.Login(t.Context(), token(t, "alice"), id)
			})
		}
		wg.Wait()
		return errs
	}
	errs := logins("laptop", "tablet")
	if ok := (errs[0] == nil) != (errs[1] == nil); !ok {
		t.Fatalf("two new devices for one place: %v", errs)
	}
	for _, err := range errs {
		if err != nil && code(err) != client.CodeTooManyDevices {
			t.Errorf("the device refused: %v, want 6000293", err)
		}
	}

	ts2 := startServer(t, "--max-devices-per-user", "2")
	ts2.login(t, "alice", "phone")
	var wg sync.WaitGroup
	ds := []*device{ts2.dial(t, "alice", "laptop", client.Options{}), ts2.dial(t, "alice", "laptop", client.Options{})}
	for _, d := range ds {
		wg.Go(func() { _, _ = d.Login(t.Context(), token(t, "alice"), "laptop") })
	}
	wg.Wait()
	// Whichever won, a device of the same ID is never refused for the limit, and no third place
	// was taken: a new device is refused.
	for _, d := range ds {
		if err := d.Err(); err != nil && code(err) == client.CodeTooManyDevices {
			t.Errorf("a connection of the laptop was refused for the limit: %v", err)
		}
	}
	extra := ts2.dial(t, "alice", "tablet", client.Options{})
	if _, err := extra.Login(t.Context(), token(t, "alice"), "tablet"); code(err) != client.CodeTooManyDevices {
		t.Errorf("tablet after the laptop's two connections: %v, want 6000293", err)
	}
}

// R6.1, R6.2, protocol.md logout: a logout loses the device at once, so once its reply is in,
// the device holds no place any more: with --max-devices-per-user 1, another device logging in
// right after the reply is not refused with 6000293 (nor kicked tooManyDevices, which forbids
// it to retry). Repeated, since the refusal depended on which came first, the reply's write or
// the release of the place.
func TestE2EDevicesLogoutFreesItsPlaceBeforeItsReply(t *testing.T) {
	ts := startServer(t, "--max-devices-per-user", "1")
	devices := [2]string{"phone", "tablet"}
	for i := range soak(500) {
		r := ts.raw(t) // dialled once the other device's logout is answered
		r.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"` + devices[i%2] + `"}}`)
		if f := r.reply(1); f.Error != nil {
			t.Fatalf("round %d: login right after the other device's logout reply: %v", i, f.Error)
		}
		r.send(`{"id":2,"op":"logout"}`)
		if f := r.reply(2); f.Error != nil {
			t.Fatalf("round %d: logout: %v", i, f.Error)
		}
	}
}
