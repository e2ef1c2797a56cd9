package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// TestE2EOpsRandom drives the real server with random operations from several users with two
// devices each, one at a time or several at once, mixing the advanced-mode ops with cancels,
// rejects, ring timeouts, ops through the REST API (users without a device), logouts, dropped
// connections, device losses, resumes, restarts on the same data, idempotent repeats and
// hostile arguments (unknown or foreign calls, the actor or a repeated user among the
// invitees, empty and oversized lists, a key reused for another request). After every step:
//
//   - every reply is a success or a code of §8, and the hostile ones get the code §8 and
//     R3.1/R3.6/R7.3 name;
//   - once every connected device has caught up (R7.2), each rings for exactly the Started calls
//     in which its user is pending (R5.3, §5: no ghost ring, no missed cancellation, the other
//     devices stop on an answer), leaving out the rings that end within about a second, for
//     which a login synthesizes no invitation (R5.3);
//   - each device got its events in seq order, a call's in version order, and none after the
//     call ended (R7.2, §5, R4.4);
//   - a user is in at most one call, versions never go back and an ended call never changes
//     (§1, R4.4);
//   - a device's logout leaves its user Accepted where another device, or none, is its main
//     device (R6.4); a lost main device takes its user out of the call (R6.4, R4.3);
//
// and after each restart every user's call list reads the same as before it (R7.1); at the end
// every ended call got exactly one call_end webhook, with the reason §4 and §10 give.
// A failure prints the seed and the steps; DIALTONE_SOAK runs ten times as many steps.
func TestE2EOpsRandom(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runOpsRandom(t, seed, soak(60))
		})
	}
}

var fuzzUsers = []string{"ann", "bob", "cat", "dan"}

var fuzzDeviceIDs = []string{"p", "t"}

// keyedOp is a success made with an idempotency key, to repeat (R7.3).
type keyedOp struct {
	key    string
	o      fop
	callID string // the reply's callID
}

// fop is one operation with its arguments, hostile ones included.
type fop struct {
	kind     string // invite, accept, reject, cancel, callingInvite, join, quit, end
	dev      *fdev
	callID   string
	invitees []string
	mode     client.CallMode
	timeout  int
	ext      string
	rest     bool // made through the server REST API, by the user without a device (§1)
	push     bool // an invite or callingInvite carrying a pushConfig (§9)
	check    bool // an invite with enableNotReceivedCheck (R5.2)
}

// label names the op's kind, and whether it went through the REST API.
func (o fop) label() string {
	if o.rest {
		return "REST " + o.kind
	}
	return o.kind
}

func (o fop) String() string {
	invitees := fmt.Sprint(o.invitees)
	if len(o.invitees) > 10 {
		invitees = fmt.Sprintf("[%d strangers]", len(o.invitees))
	}
	return fmt.Sprintf("%s %s call=%s invitees=%s mode=%d timeout=%d ext=%q push=%t check=%t", o.dev.key(), o.label(),
		o.callID, invitees, o.mode, o.timeout, o.ext, o.push, o.check)
}

// fuzzWorld is the test's view of the server and its devices.
type fuzzWorld struct {
	t        *testing.T
	ts       *testServer
	hooks    *hookReceiver
	flags    []string
	seed     uint64
	rng      *rand.Rand
	devs     map[string]*fdev
	barrier  *tdev
	barriers map[string]bool
	calls    []string
	short    []string                     // calls that ring for 1 s
	mains    map[string]map[string]string // call → user → device key, while Accepted
	keyed    map[string]keyedOp           // user → its last keyed success
	lent     map[string]bool              // keys a second user has sent
	ended    map[string]client.CallInfo   // calls seen Ended, as they were then
	focus    string                       // the call a burst's ops act on, if any
	covered  map[string]int               // replies by op and code: the run's coverage, logged at its end
	versions map[string]int64             // the latest version seen of each call
	px       *pushWorld                   // pushes, the not-received check and joins by anyone; nil without
	bursting bool                         // the ops under way run at once
	log      []string
	step     int
}

func runOpsRandom(t *testing.T, seed uint64, steps int) {
	w := newFuzzWorld(t, seed, nil)
	for w.step = 1; w.step <= steps; w.step++ {
		w.once()
	}
	w.restart()
	w.checkEnds()
	t.Logf("replies by op and code: %v", w.covered)
}

// newFuzzWorld starts the server, with px's flags when px is not nil, and connects every
// device.
func newFuzzWorld(t *testing.T, seed uint64, px *pushWorld) *fuzzWorld {
	hooks := newHookReceiver(t, 0)
	dir := t.TempDir()
	w := &fuzzWorld{t: t, hooks: hooks, seed: seed, rng: rand.New(rand.NewPCG(seed, 99)),
		devs: map[string]*fdev{}, barriers: map[string]bool{}, mains: map[string]map[string]string{},
		keyed: map[string]keyedOp{}, lent: map[string]bool{}, ended: map[string]client.CallInfo{}, versions: map[string]int64{},
		covered: map[string]int{}, px: px}
	w.flags = append(append(slices.Clone(raceFlags), hookFlags(hooks)...), "--api-key", apiKey)
	switch {
	case px != nil:
		w.flags = append(w.flags, px.flags()...)
	case seed%2 == 1:
		w.flags = append(w.flags, "--join-policy", "anyone")
	}
	w.ts = startServerOn(t, dir, w.flags...)
	w.barrier = w.dialBarrier()
	for _, u := range fuzzUsers {
		for _, id := range fuzzDeviceIDs {
			d := &fdev{tdev: &tdev{user: u, id: id, notify: make(chan struct{}, 1)}}
			w.devs[d.key()] = d
			w.connect(d)
		}
	}
	return w
}

// fail reports a mismatch with the seed and the steps so far.
func (w *fuzzWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d, step %d: %s\nsteps:\n%s", w.seed, w.step, fmt.Sprintf(format, args...), strings.Join(w.log, "\n"))
}

func (w *fuzzWorld) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%3d ", w.step)+fmt.Sprintf(format, args...))
}

// outcome adds an op's reply to the last step logged.
func (w *fuzzWorld) outcome(callID string, err error) {
	w.log[len(w.log)-1] += fmt.Sprintf(" -> %s code %d", callID, code(err))
}

func (w *fuzzWorld) dialBarrier() *tdev {
	d := &tdev{user: "zz-barrier", id: "b", notify: make(chan struct{}, 1)}
	c, err := client.Dial(w.t.Context(), w.ts.URL, client.Options{EventHandler: d, SeqStore: d})
	if err != nil {
		w.fail("dial barrier: %v", err)
	}
	w.t.Cleanup(func() { c.Close() })
	if _, err := c.Login(w.t.Context(), token(w.t, d.user), d.id); err != nil {
		w.fail("login barrier: %v", err)
	}
	d.Client = c
	return d
}

// connect logs d in, resuming from its last seq when it has one.
func (w *fuzzWorld) connect(d *fdev) {
	w.t.Helper()
	if w.px != nil {
		w.px.awaitOfflinePushes(w, d.user)
	}
	mark := d.count()
	c, err := client.Dial(w.t.Context(), w.ts.URL, client.Options{EventHandler: d, SeqStore: d})
	if err != nil {
		w.fail("dial %s: %v", d.key(), err)
	}
	w.t.Cleanup(func() { c.Close() })
	res, err := c.Login(w.t.Context(), token(w.t, d.user), d.id)
	if err != nil {
		w.fail("login %s: %v", d.key(), err)
	}
	d.mu.Lock()
	if !res.CaughtUp {
		d.from = mark
	}
	d.mu.Unlock()
	d.Client, d.online = c, true
	if w.px != nil {
		w.px.connected(w, d)
	}
}

// online returns the connected devices of user.
func (w *fuzzWorld) online(user string) []*fdev {
	var out []*fdev
	for _, id := range fuzzDeviceIDs {
		if d := w.devs[user+"@"+id]; d.online {
			out = append(out, d)
		}
	}
	return out
}

// pickDevice returns one of user's connected devices at random, or nil when it has none.
func (w *fuzzWorld) pickDevice(user string) *fdev {
	if on := w.online(user); len(on) > 0 {
		return on[w.rng.IntN(len(on))]
	}
	return nil
}

// list reads every call of user (R3.10), through one of its connected devices, by callID.
func (w *fuzzWorld) list(d *fdev) map[string]client.CallInfo {
	w.t.Helper()
	out := map[string]client.CallInfo{}
	for next := int64(0); ; {
		res, err := d.QueryCallInvitationList(w.t.Context(), 100, next)
		if err != nil {
			w.fail("queryCallInvitationList by %s: %v", d.key(), err)
		}
		for _, ci := range res.CallList {
			if !w.barriers[ci.CallID] {
				out[ci.CallID] = ci
			}
		}
		if next = res.NextFlag; next == 0 {
			return out
		}
	}
}

// view returns a call as one of its connected members reads it, and false when none is.
func (w *fuzzWorld) view(callID string) (client.CallInfo, bool) {
	for _, u := range fuzzUsers {
		for _, d := range w.online(u) {
			if ci, err := d.QueryCall(w.t.Context(), callID); err == nil {
				return ci, true
			}
		}
	}
	return client.CallInfo{}, false
}

// specCodes are the codes of §8.
var specCodes = []client.ErrorCode{6000001, 6000002, 6000121, 6000270, 6000271, 6000272, 6000273, 6000274,
	6000276, 6000281, 6000283, 6000286, 6000290, 6000291, 6000292, 6000293}

// someone returns n distinct users, picked at random.
func (w *fuzzWorld) someone(n int) []string {
	out := []string{}
	for _, i := range w.rng.Perm(len(fuzzUsers))[:n] {
		out = append(out, fuzzUsers[i])
	}
	return out
}

// strangers returns n valid userIDs nobody uses.
func strangers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("x%04d", i)
	}
	return out
}

// invitees returns a list for callInvite or callingInvite: mostly valid, sometimes hostile,
// with the code (or the errorUserList reasons) that R3.1/R3.6 give when no other rule applies.
func (w *fuzzWorld) invitees(actor string) (list []string, want client.ErrorCode, reasons map[string]client.ErrorCode) {
	reasons = map[string]client.ErrorCode{}
	switch w.rng.IntN(12) {
	case 0:
		return []string{}, client.CodeInvalidParameter, reasons
	case 1: // past --max-call-users, or so long that the data is past protocol.md "Shapes"' bound
		if w.rng.IntN(2) == 0 {
			return strangers(10), client.CodeTooManyUsers, reasons
		}
		return strangers(protocol.MaxDataItems), client.CodeInvalidParameter, reasons
	case 2:
		return []string{actor}, client.CodeNoValidInvitee, reasons
	case 3: // the actor, a repeated user and an invalid userID beside a valid one
		other := w.someone(len(fuzzUsers))
		other = slices.DeleteFunc(other, func(u string) bool { return u == actor })[:1]
		reasons[actor] = client.CodeInvalidParameter
		reasons["bad user"] = client.CodeInvalidParameter
		return []string{actor, other[0], other[0], "bad user"}, 0, reasons
	}
	list = slices.DeleteFunc(w.someone(1+w.rng.IntN(3)), func(u string) bool { return u == actor })
	if len(list) == 0 {
		return []string{actor}, client.CodeNoValidInvitee, reasons
	}
	return list, 0, reasons
}

// pickOp chooses the next call operation: mostly by a member of a known call, sometimes on an
// unknown call or a call of others.
func (w *fuzzWorld) pickOp(lists map[string]map[string]client.CallInfo) (o fop, want client.ErrorCode, reasons map[string]client.ErrorCode) {
	user := fuzzUsers[w.rng.IntN(len(fuzzUsers))]
	if o.dev = w.pickDevice(user); o.dev == nil {
		return o, 0, nil
	}
	o.ext = fmt.Sprintf("step %d", w.step)
	o.timeout = 600
	if len(w.calls) == 0 || w.rng.IntN(5) == 0 {
		o.kind, o.mode = "invite", client.CallMode(w.rng.IntN(2))
		if w.rng.IntN(6) == 0 {
			o.timeout = 1
		}
		o.invitees, want, reasons = w.invitees(user)
		o.rest = w.rng.IntN(8) == 0
		if w.px != nil {
			o.push, o.check = w.rng.IntN(4) > 0, w.rng.IntN(2) == 0
		}
		if want == 0 {
			want = mayBeBusy // the caller may be in a call (R3.1)
		}
		return o, want, reasons
	}
	kinds := []string{"accept", "reject", "cancel", "callingInvite", "join", "quit", "end"}
	o.kind = kinds[w.rng.IntN(len(kinds))]
	r := w.rng.IntN(10)
	switch {
	case r == 0:
		o.callID = hostileCallIDs[w.rng.IntN(len(hostileCallIDs))]
	default:
		o.callID = w.pickCall()
		if r > 2 { // mostly one of its members, mostly with an op its state allows
			if ci, ok := w.view(o.callID); ok {
				u := ci.CallUserList[w.rng.IntN(len(ci.CallUserList))]
				if d := w.pickDevice(u.UserID); d != nil {
					o.dev = d
				}
				if allowed := allowedOps(u.State); w.rng.IntN(5) > 0 {
					o.kind = allowed[w.rng.IntN(len(allowed))]
				}
			}
		}
	}
	want = -1 // decided by the call's state
	if _, member := lists[o.dev.user][o.callID]; !member && (!w.anyoneJoins(o.kind) || r == 0) {
		want = client.CodeCallUnavailable // unknown, or not visible to this user (R3.10, §11)
	}
	if r == 0 && o.callID != unknownCallID {
		want = anyRefusal // malformed (6000001) or unknown (6000276)
	}
	switch o.kind {
	case "callingInvite":
		var shape client.ErrorCode
		o.invitees, shape, reasons = w.invitees(o.dev.user)
		o.push = w.px != nil && w.rng.IntN(4) > 0
		if shape == client.CodeInvalidParameter {
			want = shape // the shape is checked before any call rule (§8)
		}
	case "cancel":
		if w.rng.IntN(2) == 0 {
			o.invitees = w.someone(1 + w.rng.IntN(2))
		}
	}
	o.rest = slices.Contains(restOps, o.kind) && w.rng.IntN(8) == 0
	return o, want, reasons
}

// pickCall returns the call a burst acts on, or a call at random, mostly a Started one.
func (w *fuzzWorld) pickCall() string {
	if w.focus != "" {
		return w.focus
	}
	started := slices.DeleteFunc(slices.Clone(w.calls), func(c string) bool { _, ended := w.ended[c]; return ended })
	if len(started) > 0 && w.rng.IntN(4) > 0 {
		return started[w.rng.IntN(len(started))]
	}
	return w.calls[w.rng.IntN(len(w.calls))]
}

// allowedOps are the ops §5's state × operation table lets a user in state s make, in an
// advanced-mode call.
func allowedOps(s client.CallUserState) []string {
	switch {
	case isPending(s):
		return []string{"accept", "reject", "join"}
	case s == client.StateAccepted:
		return []string{"callingInvite", "cancel", "quit", "end", "join"}
	case s == client.StateRejected || s == client.StateQuit || s == client.StateTimeout:
		return []string{"join"}
	}
	return []string{"callingInvite", "join"}
}

// unknownCallID names no call.
const unknownCallID = "unknownCallID0123456789ab"

// hostileCallIDs name no call, and all but the first are no callID the server makes.
var hostileCallIDs = []string{unknownCallID, "", strings.Repeat("c", 5000), "../calls", "call id\u0000"}

// restOps are the call ops of the server REST API (docs/api.md).
var restOps = []string{"accept", "reject", "cancel", "end"}

// rest makes o through the server REST API (docs/api.md) under idempotency key key.
func (w *fuzzWorld) rest(key string, o fop) (string, []client.ErrorUserInfo, error) {
	body := map[string]any{"userID": o.dev.user, "config": map[string]any{"extendedData": o.ext}}
	path := "/v1/api/calls/" + url.PathEscape(o.callID) + "/" + o.kind
	switch o.kind {
	case "invite":
		path = "/v1/api/calls"
		body["invitees"] = o.invitees
		body["config"] = map[string]any{"extendedData": o.ext, "timeout": o.timeout, "mode": o.mode,
			"pushConfig": o.pushConfig(), "enableNotReceivedCheck": o.check}
	case "cancel":
		body["invitees"] = append([]string{}, o.invitees...)
	}
	data, err := json.Marshal(body)
	if err != nil {
		w.fail("%v: %v", o, err)
	}
	_, reply := apiRaw(w.t, w.ts, "POST", path, apiKey, string(data), "Idempotency-Key", key)
	var res struct {
		CallID        string                 `json:"callID"`
		ErrorUserList []client.ErrorUserInfo `json:"errorUserList"`
		Error         *protocol.Error        `json:"error"`
	}
	if err := json.Unmarshal(reply, &res); err != nil {
		w.fail("%v: reply %s: %v", o, reply, err)
	}
	if res.Error != nil {
		return o.callID, nil, res.Error
	}
	return res.CallID, res.ErrorUserList, nil
}

// anyoneJoins reports whether a non-member's op may succeed: a callJoin under joinPolicy
// anyone (R3.7).
func (w *fuzzWorld) anyoneJoins(kind string) bool {
	return kind == "join" && slices.Contains(w.flags, "anyone")
}

// do makes o under idempotency key key.
func (w *fuzzWorld) do(key string, o fop) (string, []client.ErrorUserInfo, error) {
	if o.rest {
		return w.rest(key, o)
	}
	ctx, d := client.WithIdempotencyKey(w.t.Context(), key), o.dev
	switch o.kind {
	case "invite":
		res, err := d.CallInvite(ctx, o.invitees, client.InviteConfig{Timeout: o.timeout, Mode: o.mode, ExtendedData: o.ext,
			PushConfig: o.pushConfig(), EnableNotReceivedCheck: o.check})
		return res.CallID, res.ErrorUserList, err
	case "callingInvite":
		res, err := d.CallingInvite(ctx, o.callID, o.invitees, client.CallingInviteConfig{Timeout: o.timeout, ExtendedData: o.ext,
			PushConfig: o.pushConfig()})
		return res.CallID, res.ErrorUserList, err
	case "cancel":
		res, err := d.CallCancel(ctx, o.callID, o.invitees, client.OpConfig{ExtendedData: o.ext})
		return res.CallID, nil, err
	}
	cfg := client.OpConfig{ExtendedData: o.ext}
	var err error
	switch o.kind {
	case "accept":
		_, err = d.CallAccept(ctx, o.callID, cfg)
	case "reject":
		_, err = d.CallReject(ctx, o.callID, cfg)
	case "join":
		_, err = d.CallJoin(ctx, o.callID, cfg)
	case "quit":
		_, err = d.CallQuit(ctx, o.callID, cfg)
	case "end":
		_, err = d.CallEnd(ctx, o.callID, cfg)
	}
	return o.callID, nil, err
}

// planned is a call operation with the reply it must get, and the reply it got.
type planned struct {
	o       fop
	want    client.ErrorCode
	reasons map[string]client.ErrorCode // errorUserList entries it must carry
	key     string
	line    int // its line in the log
	id      string
	errs    []client.ErrorUserInfo
	err     error
}

// plan picks a call operation, or returns nil when its user has no connected device.
func (w *fuzzWorld) plan(lists map[string]map[string]client.CallInfo) *planned {
	o, want, reasons := w.pickOp(lists)
	if o.dev == nil {
		return nil
	}
	p := &planned{o: o, want: want, reasons: reasons, key: client.NewIdempotencyKey(), line: len(w.log)}
	w.logf("%v key=%s", o, p.key)
	return p
}

func (w *fuzzWorld) run(p *planned) error {
	p.id, p.errs, p.err = w.do(p.key, p.o)
	return p.err
}

// finish checks a planned operation's reply and records what it made.
func (w *fuzzWorld) finish(p *planned) {
	w.log[p.line] += fmt.Sprintf(" -> %s code %d", p.id, code(p.err))
	w.checkCode(p.o.label(), p.o.String(), p.err, p.want)
	if p.err != nil {
		return
	}
	for _, e := range p.errs {
		if r, ok := p.reasons[e.UserID]; ok && r != e.Reason {
			w.fail("%v: errorUserList gives %s reason %d, want %d (R3.1, R3.6)", p.o, e.UserID, e.Reason, r)
		}
		delete(p.reasons, e.UserID)
	}
	if len(p.reasons) > 0 {
		w.fail("%v: errorUserList %v lacks %v (R3.1, R3.6)", p.o, p.errs, p.reasons)
	}
	w.keyed[p.o.dev.user] = keyedOp{key: p.key, o: p.o, callID: p.id}
	w.afterSuccess(p.o, p.id)
	if w.px != nil {
		w.px.invited(w, p)
	}
}

// callOp makes one call operation and checks its reply.
func (w *fuzzWorld) callOp(lists map[string]map[string]client.CallInfo) {
	if p := w.plan(lists); p != nil {
		w.run(p)
		w.finish(p)
	}
}

// burst makes two to four call operations at once. Only the codes that no other operation
// can change are checked exactly: an unknown call, a malformed request, a busy caller.
func (w *fuzzWorld) burst(lists map[string]map[string]client.CallInfo) {
	w.logf("burst")
	if len(w.calls) > 0 && w.rng.IntN(3) > 0 {
		w.focus = w.calls[w.rng.IntN(len(w.calls))] // most on one call
	}
	var ps []*planned
	var runs []func() error
	acting := map[*fdev]bool{}
	for range 2 + w.rng.IntN(3) {
		if p := w.plan(lists); p != nil {
			if p.want == client.CodeCallUnavailable && slices.Contains(w.calls, p.o.callID) {
				p.want = -1 // a concurrent callingInvite may make its user a member
			}
			ps = append(ps, p)
			acting[p.o.dev] = true
			runs = append(runs, func() error { return w.run(p) })
		}
	}
	w.focus = ""
	w.bursting = true
	defer func() { w.bursting = false }()
	var leaving *fdev
	logout := w.rng.IntN(2) == 0
	if d := w.pickDevice(fuzzUsers[w.rng.IntN(len(fuzzUsers))]); d != nil && !acting[d] && w.rng.IntN(3) == 0 {
		leaving = d
		w.logf("%s %s", d.key(), map[bool]string{true: "logout", false: "drop"}[logout])
		runs = append(runs, func() error { return w.disconnect(d, logout) })
	}
	errs := together(runs...)
	for _, p := range ps {
		w.finish(p)
	}
	if leaving != nil {
		if err := errs[len(errs)-1]; logout && err != nil {
			w.fail("logout %s: %v", leaving.key(), err)
		}
		w.gone(leaving)
	}
}

// mayBeBusy is the want of checkCode for a valid callInvite: success, or 6000290 (R3.1).
const mayBeBusy client.ErrorCode = -2

// anyRefusal is the want of checkCode for a request that must fail, with any code of §8.
const anyRefusal client.ErrorCode = -3

// checkCode checks err against want: 0 success, -1 any code of §8, mayBeBusy success or
// 6000290, anyRefusal any code of §8 but not success, otherwise that code.
func (w *fuzzWorld) checkCode(label, what string, err error, want client.ErrorCode) {
	w.t.Helper()
	got := code(err)
	w.covered[fmt.Sprint(label, " ", got)]++
	if err != nil && !slices.Contains(specCodes, got) {
		w.fail("%s: %v is no reply of §8", what, err)
	}
	switch {
	case want == -1:
	case want == mayBeBusy && (got == 0 || got == client.CodeBusy):
	case want == anyRefusal && err != nil:
	case got != want:
		w.fail("%s: got %v, want code %d", what, err, want)
	}
}

// afterSuccess records what a successful op made: a new call, a main device.
func (w *fuzzWorld) afterSuccess(o fop, id string) {
	switch o.kind {
	case "invite":
		w.calls = append(w.calls, id)
		w.mains[id] = map[string]string{}
		if !o.rest { // without a device, a user has no main device (§1)
			w.mains[id][o.dev.user] = o.dev.key()
		}
		if o.timeout == 1 {
			w.short = append(w.short, id)
		}
	case "accept", "join":
		if o.rest {
			delete(w.mains[o.callID], o.dev.user)
			return
		}
		if w.mains[o.callID] == nil {
			w.mains[o.callID] = map[string]string{}
		}
		w.mains[o.callID][o.dev.user] = o.dev.key()
	}
}

// repeat sends a user's last keyed success again, as it was or with another body: the first
// reply and no change, or 6000001 (R7.3).
func (w *fuzzWorld) repeat() {
	users := slices.Sorted(maps.Keys(w.keyed))
	if len(users) == 0 {
		return
	}
	k := w.keyed[users[w.rng.IntN(len(users))]]
	if w.rng.IntN(4) == 0 {
		w.foreignKey(k)
		return
	}
	o := k.o
	if d := w.pickDevice(o.dev.user); d != nil && !o.rest {
		o.dev = d
	} else if !o.rest {
		return
	}
	want := client.ErrorCode(0)
	if w.rng.IntN(2) == 0 {
		o.ext += " changed"
		want = client.CodeInvalidParameter
	}
	if o.dev != k.o.dev {
		want = client.CodeInvalidParameter // the device is one of the parameters (docs/behaviour.md §12)
	}
	w.logf("repeat %v key=%s", o, k.key)
	id, _, err := w.do(k.key, o)
	w.outcome(id, err)
	w.checkCode("repeat "+o.label(), "repeat "+o.String(), err, want)
	if err == nil && id != k.callID {
		w.fail("repeat %v: callID %s, the first reply had %s (R7.3)", o, id, k.callID)
	}
}

// foreignKey makes a fresh invite of another user under the key of k: keys are per user, so
// the invite is carried out as any other (R7.3). A key is lent once: lent again, it could be
// one the borrower has sent itself.
func (w *fuzzWorld) foreignKey(k keyedOp) {
	user := fuzzUsers[w.rng.IntN(len(fuzzUsers))]
	d := w.pickDevice(user)
	invitees := slices.DeleteFunc(w.someone(2), func(u string) bool { return u == user })
	if d == nil || user == k.o.dev.user || w.lent[k.key] {
		return
	}
	w.lent[k.key] = true
	p := &planned{o: fop{kind: "invite", dev: d, invitees: invitees, mode: client.CallMode(w.rng.IntN(2)), timeout: 600,
		ext: fmt.Sprintf("step %d", w.step)}, want: mayBeBusy, key: k.key, line: len(w.log)}
	w.logf("%v with %s's key=%s", p.o, k.o.dev.user, k.key)
	w.run(p)
	w.finish(p)
}

// drop closes a connected device, or logs it (or every device of its user) out; where it was
// a main device the step waits for its loss (R6.1, R4.3, R6.4).
func (w *fuzzWorld) drop(logout bool) {
	d := w.pickDevice(fuzzUsers[w.rng.IntN(len(fuzzUsers))])
	if d == nil {
		return
	}
	if logout && w.rng.IntN(3) == 0 {
		w.logoutUser(d.user)
		return
	}
	w.logf("%s %s", d.key(), map[bool]string{true: "logout", false: "drop"}[logout])
	stay := w.acceptedElsewhere(d)
	if err := w.disconnect(d, logout); err != nil {
		w.fail("logout %s: %v", d.key(), err)
	}
	w.gone(d)
	if !logout {
		return
	}
	for _, c := range stay {
		if ci, ok := w.view(c); ok && ci.State == client.CallStarted && byUser(ci)[d.user].State != client.StateAccepted {
			w.fail("%s logged out, but it is not %s's main device in %s, and %s left it: %s (R6.4)",
				d.key(), d.user, c, d.user, userStates(ci.CallUserList))
		}
	}
}

// acceptedElsewhere returns the Started calls in which d's user is Accepted with another main
// device, or none (§1): d's loss must leave it there (R6.4).
func (w *fuzzWorld) acceptedElsewhere(d *fdev) []string {
	var out []string
	for c, ci := range w.list(d) {
		if ci.State == client.CallStarted && byUser(ci)[d.user].State == client.StateAccepted && w.mains[c][d.user] != d.key() {
			out = append(out, c)
		}
	}
	return out
}

// logoutUser logs every device of user out through the server REST API (docs/api.md): each
// is kicked and lost at once (R6.1).
func (w *fuzzWorld) logoutUser(user string) {
	w.logf("REST logout %s", user)
	if st, m := apiCall(w.t, w.ts, "POST", "/v1/api/users/"+user+"/logout", apiKey, ""); st != 200 {
		w.fail("REST logout of %s: %d %v", user, st, m)
	}
	if w.px != nil {
		for _, id := range fuzzDeviceIDs {
			w.px.dropTarget(user + "@" + id) // every target of the user (docs/api.md)
		}
	}
	devices := w.online(user)
	for _, d := range devices {
		select {
		case <-d.Done():
		case <-time.After(waitFor):
			w.fail("%s still connected after its user's REST logout", d.key())
		}
	}
	for _, d := range devices {
		w.gone(d)
	}
}

// disconnect logs d out, after which it logs in again as a new installation, or closes it.
func (w *fuzzWorld) disconnect(d *fdev, logout bool) error {
	if !logout {
		return d.Close()
	}
	d.mu.Lock()
	d.seq = 0
	d.mu.Unlock()
	if w.px != nil {
		w.px.dropTarget(d.key()) // its push targets are dropped (protocol.md "logout")
	}
	return d.Logout(w.t.Context())
}

// gone marks d disconnected and waits for the loss of its user's calls where it was the main
// device.
func (w *fuzzWorld) gone(d *fdev) {
	d.online = false
	if w.px != nil {
		w.px.left(w, d)
	}
	for c, m := range w.mains {
		if m[d.user] == d.key() {
			w.waitLeft(c, d.user)
		}
	}
}

// waitLeft waits until user, whose main device in callID was lost, is no longer Accepted in
// it or the call ended: in an advanced call (R6.4), or as the caller of an unanswered one
// (R4.3). Otherwise the loss changes nothing.
func (w *fuzzWorld) waitLeft(callID, user string) {
	ctx, cancel := context.WithTimeout(w.t.Context(), waitFor)
	defer cancel()
	for {
		ci, ok := w.view(callID)
		unanswered := !slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool {
			return u.UserID != ci.Caller && u.State == client.StateAccepted
		})
		if ok && ci.Mode == client.ModeGeneral && (user != ci.Caller || !unanswered) {
			return
		}
		if !ok || ci.State == client.CallEnded || byUser(ci)[user].State != client.StateAccepted {
			delete(w.mains[callID], user)
			return
		}
		select {
		case <-ctx.Done():
			w.fail("%s's main device is lost but it is still Accepted in %s: %s (R6.4, R4.3)", user, callID, userStates(ci.CallUserList))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reconnect logs a disconnected device in again, or a connected one, whose session the new
// one replaces.
func (w *fuzzWorld) reconnect() {
	if d := w.pickDevice(fuzzUsers[w.rng.IntN(len(fuzzUsers))]); d != nil && w.rng.IntN(4) == 0 {
		w.logf("%s logs in again, replacing its session (R6.2), lastSeq=%d", d.key(), d.savedSeq())
		w.connect(d)
		return
	}
	var off []*fdev
	for _, u := range fuzzUsers {
		for _, id := range fuzzDeviceIDs {
			if d := w.devs[u+"@"+id]; !d.online {
				off = append(off, d)
			}
		}
	}
	if len(off) == 0 {
		return
	}
	d := off[w.rng.IntN(len(off))]
	w.logf("%s reconnect lastSeq=%d", d.key(), d.savedSeq())
	w.connect(d)
}

// ringOut waits until no call that rings for 1 s rings any more (R3.5).
func (w *fuzzWorld) ringOut() {
	ctx, cancel := context.WithTimeout(w.t.Context(), waitFor)
	defer cancel()
	for _, c := range w.short {
		for {
			ci, ok := w.view(c)
			if !ok || !slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool {
				return isPending(u.State) && u.Deadline > 0 && u.Deadline-ci.CreateTime <= 1000
			}) {
				break
			}
			select {
			case <-ctx.Done():
				w.fail("call %s still rings after its 1 s timeout: %s", c, userStates(ci.CallUserList))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	w.short = nil
}

// once makes one random step and checks the devices against the server.
func (w *fuzzWorld) once() {
	lists := map[string]map[string]client.CallInfo{}
	for _, u := range fuzzUsers {
		if on := w.online(u); len(on) > 0 {
			lists[u] = w.list(on[0])
		}
	}
	if w.px != nil && w.px.step(w, lists) {
		w.checkDevices()
		return
	}
	switch r := w.rng.IntN(100); {
	case r < 60:
		w.callOp(lists)
	case r < 70:
		w.burst(lists)
	case r < 78:
		w.repeat()
	case r < 85:
		w.drop(false)
	case r < 88:
		w.drop(true)
	case r < 97:
		w.reconnect()
	case r < 99:
		w.logf("wait for the 1 s rings")
		w.ringOut()
	default:
		w.restart()
	}
	w.checkDevices()
}

// catchUp waits until every connected device has every event committed so far: a barrier
// call rings and is cancelled, and a device gets its user's events in log order (R7.2).
func (w *fuzzWorld) catchUp() {
	res, err := w.barrier.CallInvite(w.t.Context(), fuzzUsers, client.InviteConfig{Timeout: 600})
	if err != nil {
		w.fail("barrier invite: %v", err)
	}
	w.barriers[res.CallID] = true
	if _, err := w.barrier.CallCancel(w.t.Context(), res.CallID, nil, client.OpConfig{}); err != nil {
		w.fail("barrier cancel: %v", err)
	}
	for _, d := range w.devs {
		if d.online {
			d.waitKind(w.t, res.CallID, "cancelled")
		}
	}
}

// settledLists returns every user's calls (list) once none of them rings with a deadline due
// within shortRingBound: the short rings the steps make are waited out, and their timeouts
// applied, so that none falls due between the reading and a restart, whose start applies the
// deadlines that passed while the server was down (R3.5).
func (w *fuzzWorld) settledLists() map[string]map[string]client.CallInfo {
	w.t.Helper()
	const shortRingBound = 5 * time.Second // the steps ring for 1 s or for 600 s
	for deadline := time.Now().Add(waitFor + shortRingBound); ; time.Sleep(50 * time.Millisecond) {
		lists, due := map[string]map[string]client.CallInfo{}, false
		soon := time.Now().Add(shortRingBound).UnixMilli()
		for _, u := range fuzzUsers {
			lists[u] = w.list(w.online(u)[0])
			for _, ci := range lists[u] {
				for _, cu := range ci.CallUserList {
					due = due || ci.State == client.CallStarted && isPending(cu.State) && cu.Deadline <= soon
				}
			}
		}
		if !due {
			return lists
		}
		if time.Now().After(deadline) {
			w.fail("rings still due after %v: %v", waitFor+shortRingBound, lists)
		}
	}
}

// restart stops the server and starts it again on the same data, then checks that every
// user's calls read the same (R7.1), and reconnects every device that was connected.
func (w *fuzzWorld) restart() {
	w.logf("restart")
	for _, d := range w.devs {
		if !d.online {
			w.connect(d)
		}
	}
	w.catchUp()
	before := w.settledLists()
	for _, d := range w.devs {
		d.Close()
	}
	if w.px != nil {
		w.px.allLeft(w)
	}
	w.barrier.Close()
	w.ts.Stop()
	w.ts = startServerOn(w.t, w.ts.Data, w.flags...)
	w.barrier = w.dialBarrier()
	for _, d := range w.devs {
		w.connect(d)
	}
	for _, u := range fuzzUsers {
		if after := w.list(w.online(u)[0]); !reflect.DeepEqual(after, before[u]) {
			w.fail("%s's calls after a restart:\n%s\nbefore it:\n%s (R7.1)", u, describe(after), describe(before[u]))
		}
	}
}
