package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

const watchUsage = `
Usage: dialtone watch --url URL --user USER [--device D] (--token T | --secret S)

Logs in as one device of USER and prints every event the device receives, one JSON object a
line, until Ctrl-C or the end of the session:

  {"event":"callInvitationReceived","seq":7,"data":{"callID":"…",…}}

"seq" is the event's position in the user's log; it is null for synthesized invitations and
for "kicked". Connection changes are printed as {"event":"connection","seq":null,
"data":{"state":"Reconnecting","reason":"…"}}. The device acknowledges invitations (rings)
as every SDK client does, but never answers them. Like any device, it receives only part of
the events of the calls of USER that another device created, accepted or joined (its main
device, docs/behaviour.md §5). When the connection drops (a server restart, for example) it
reconnects by itself and prints the events it missed.

Strings are JSON-escaped, and so is every character a terminal could take as a control or that
would reorder the line (U+0080–U+009F, U+202E and the like, as "\u009b"): what other users
send (extendedData) is shown, never acted on, and decodes to what they sent.
`

// runWatch implements "dialtone watch".
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", watchUsage, stdout, stderr)
	var cf connFlags
	cf.register(fs, "dialtone-watch")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	cf.settle(fs)
	if len(pos) > 0 {
		return fmt.Errorf("watch: unexpected argument %q", pos[0])
	}
	w := &jsonWatcher{enc: json.NewEncoder(printableJSON{stdout})}
	lctx, cancel := cf.loginContext(ctx)
	defer cancel()
	c, err := cf.dial(lctx, client.Options{EventHandler: w, SeqStore: w})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer c.Close() // which returns once the kick and the end are printed
	if _, err := cf.login(lctx, c); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	cancel()
	select {
	case <-ctx.Done():
		return nil
	case <-c.Done():
		return fmt.Errorf("watch: session ended: %w", cf.explain(c.Err()))
	}
}

// printableJSON writes JSON text to w with DEL and each character beyond ASCII that is not
// printable (unicode.IsPrint: C1 controls, format characters such as bidirectional overrides)
// as a \u escape, which encoding/json leaves as it is. Such characters can only be inside
// strings, so the text decodes to the same values. A json.Encoder writes each value in one
// Write.
type printableJSON struct{ w io.Writer }

func (p printableJSON) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf && r != 0x7f || unicode.IsPrint(r) {
			out = append(out, b[i:i+size]...)
		} else {
			for _, u := range utf16.Encode([]rune{r}) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		}
		i += size
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// watchLine is one printed line.
type watchLine struct {
	Event string `json:"event"`
	Seq   *int64 `json:"seq"`
	Data  any    `json:"data"`
}

// jsonWatcher is both the EventHandler and the SeqStore of the watch client. The SDK hands
// an event to the handler and then, on the same goroutine, saves its seq when it has one
// (client.SeqStore's contract): so a logged event is held until its Save, which prints it
// with its seq; events without a seq (synthesized invitations, kicked, connection changes)
// are printed at once.
type jsonWatcher struct {
	mu      sync.Mutex
	enc     *json.Encoder
	pending *watchLine
}

// hold keeps a logged event until its seq is saved.
func (w *jsonWatcher) hold(event string, data any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	w.pending = &watchLine{Event: event, Data: data}
}

// now prints an event that has no seq.
func (w *jsonWatcher) now(event string, data any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	_ = w.enc.Encode(watchLine{Event: event, Data: data})
}

// flushLocked prints a held event whose seq never came (it had none).
func (w *jsonWatcher) flushLocked() {
	if w.pending != nil {
		_ = w.enc.Encode(w.pending)
		w.pending = nil
	}
}

// Load implements client.SeqStore: the watcher starts as a new device.
func (w *jsonWatcher) Load(context.Context, client.SeqKey) (int64, bool, error) {
	return 0, false, nil
}

// Save implements client.SeqStore: it prints the held event with its seq. A Save with no
// event held (the position a login set) prints nothing.
func (w *jsonWatcher) Save(_ context.Context, _ client.SeqKey, seq int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending != nil {
		w.pending.Seq = &seq
		w.flushLocked()
	}
	return nil
}

func (w *jsonWatcher) OnCallInvitationCreated(ev client.CallInvitationCreated) {
	w.hold(protocol.EventCallInvitationCreated, ev)
}

func (w *jsonWatcher) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	if ev.Synthetic {
		w.now(protocol.EventCallInvitationReceived, ev)
		return
	}
	w.hold(protocol.EventCallInvitationReceived, ev)
}

func (w *jsonWatcher) OnCallInvitationCancelled(ev client.CallInvitationCancelled) {
	w.hold(protocol.EventCallInvitationCancelled, ev)
}

func (w *jsonWatcher) OnCallInvitationTimeout(ev client.CallInvitationTimeout) {
	w.hold(protocol.EventCallInvitationTimeout, ev)
}

func (w *jsonWatcher) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	w.hold(protocol.EventCallInvitationEnded, ev)
}

func (w *jsonWatcher) OnCallUserStateChanged(ev client.CallUserStateChanged) {
	w.hold(protocol.EventCallUserStateChanged, ev)
}

func (w *jsonWatcher) OnCallMainDeviceChanged(ev client.CallMainDeviceChanged) {
	w.hold(protocol.EventCallMainDeviceChanged, ev)
}

func (w *jsonWatcher) OnKicked(ev client.Kicked) { w.now(protocol.EventKicked, ev) }

// connectionData is the data of a "connection" line.
type connectionData struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

func (w *jsonWatcher) OnConnectionStateChanged(state client.ConnectionState, reason error) {
	d := connectionData{State: state.String()}
	if reason != nil {
		d.Reason = reason.Error()
	}
	w.now("connection", d)
}
