package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

func TestSeqStoreUsedAtNextLogin(t *testing.T) {
	fs := newFakeServer(t)
	store := &MemorySeqStore{}
	rec := newRecorder()
	token := jwtWithSub("alice")
	ctx := testCtx(t)
	c, err := Dial(ctx, fs.url(), Options{EventHandler: rec, SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, token, "dev1"); err != nil {
		t.Fatal(err)
	}
	fc := recv(t, fs.conns, "connection")
	fc.emit(protocol.EventCallInvitationCreated, callEvent("a"))
	fc.emit("someFutureEvent", map[string]any{"x": 1}) // ignored, but its seq counts
	last := fc.emit(protocol.EventCallUserStateChanged, callEvent("b"))
	recv(t, rec.events, "a")
	if got := recv(t, rec.events, "b"); got != "stateChanged:b" {
		t.Fatalf("got %q; the unknown event must be skipped", got)
	}
	c.Close()
	rec.waitState(t, Disconnected)
	if seq, ok, _ := store.Load(ctx, SeqKey{UserID: "alice", DeviceID: "dev1"}); !ok || seq != last {
		t.Fatalf("stored seq %d %v, want %d", seq, ok, last)
	}

	c2, err := Dial(ctx, fs.url(), Options{SeqStore: store})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Login(ctx, token, "dev1"); err != nil {
		t.Fatal(err)
	}
	recv(t, fs.logins, "first login")
	if ld := recv(t, fs.logins, "second login"); ld.LastSeq == nil || *ld.LastSeq != last {
		t.Fatalf("second client's lastSeq = %v, want %d", ld.LastSeq, last)
	}
}

func TestSeqTrackerStartsOverWhenServerLogIsBehind(t *testing.T) {
	store := &MemorySeqStore{}
	key := SeqKey{UserID: "u", DeviceID: "d"}
	_ = store.Save(context.Background(), key, 50)
	tr := seqTracker{store: store, log: slog.New(slog.DiscardHandler)}
	tr.load(context.Background(), key)
	if p := tr.resumeFrom(); p == nil || *p != 50 {
		t.Fatalf("resumeFrom = %v, want 50", p)
	}
	if tr.admit(50) {
		t.Fatal("seq 50 admitted again")
	}
	tr.loggedIn(10, true) // the server's log restarted
	if !tr.admit(11) {
		t.Fatal("seq 11 after a log reset must be new")
	}
	tr.handled(11)
	if p := tr.resumeFrom(); *p != 11 {
		t.Fatalf("resumeFrom = %d, want 11", *p)
	}
	if seq, _, _ := store.Load(context.Background(), key); seq != 11 {
		t.Fatalf("saved %d, want 11", seq)
	}
}

// R7.2, R5.3: a login that could not catch up (caughtUp false) moves the device to the reply's
// headSeq, past the events the synthesized invitations that follow reflect, so that the next
// login resumes from there instead of receiving those invitations again.
func TestSeqTrackerMovesToHeadWhenNotCaughtUp(t *testing.T) {
	tr := seqTracker{log: slog.New(slog.DiscardHandler)}
	tr.load(context.Background(), SeqKey{UserID: "u", DeviceID: "d"})
	tr.loggedIn(5, true)
	tr.loggedIn(40, false) // away for longer than the server keeps events
	if p := tr.resumeFrom(); p == nil || *p != 40 {
		t.Fatalf("resumeFrom = %v, want 40", p)
	}
	if tr.admit(40) || !tr.admit(41) {
		t.Fatal("want seq 40 old and 41 new")
	}
}

// R7.2: a reconnection whose missed events the server could not replay (caughtUp false) is
// told to the handler, since calls known from earlier events may have changed without an
// event: Connected carries ErrEventsLost. A first login, with no position to resume from, and
// a reconnection that caught up carry no reason.
func TestConnectedTellsOfLostEvents(t *testing.T) {
	fs := newFakeServer(t)
	rec := newRecorder()
	_, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	if sc := rec.waitState(t, Connected); sc.reason != nil {
		t.Fatalf("first login: Connected with %v, want no reason", sc.reason)
	}
	fc.emit(protocol.EventCallInvitationCreated, callEvent("a"))
	recv(t, rec.events, "a")
	fc.drop()
	rec.waitState(t, Reconnecting)
	fc = recv(t, fs.conns, "caught-up reconnection")
	if sc := rec.waitState(t, Connected); sc.reason != nil {
		t.Fatalf("caught-up reconnection: Connected with %v, want no reason", sc.reason)
	}
	fs.mu.Lock()
	fs.pruned = true
	fs.mu.Unlock()
	fc.drop()
	rec.waitState(t, Reconnecting)
	recv(t, fs.conns, "reconnection that could not catch up")
	if sc := rec.waitState(t, Connected); !errors.Is(sc.reason, ErrEventsLost) {
		t.Fatalf("reconnection with caughtUp false: Connected with %v, want ErrEventsLost", sc.reason)
	}
}

// A SeqStore holding a position no login can carry (negative, or beyond the protocol's 53-bit
// integers) holds garbage: the device logs in as one without a position, as the browser SDK
// does with such a value in its storage, rather than being refused (6000001) at every Login.
func TestSeqStoreGarbageIsNoPosition(t *testing.T) {
	for _, bad := range []int64{-1, protocol.MaxInteger + 1} {
		fs := newFakeServer(t)
		fs.setLoginErr(func(ld protocol.LoginData) *protocol.Error {
			if ld.LastSeq != nil && (*ld.LastSeq < 0 || *ld.LastSeq > protocol.MaxInteger) {
				return &protocol.Error{Code: protocol.CodeInvalidParameter, Message: "bad lastSeq"}
			}
			return nil
		})
		store := &MemorySeqStore{}
		key := SeqKey{UserID: "alice", DeviceID: "dev1"}
		_ = store.Save(context.Background(), key, bad)
		ctx := testCtx(t)
		c, err := Dial(ctx, fs.url(), Options{SeqStore: store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
			t.Fatalf("stored seq %d: Login: %v", bad, err)
		}
		if ld := recv(t, fs.logins, "login"); ld.LastSeq != nil {
			t.Fatalf("stored seq %d: login sent lastSeq %d, want none", bad, *ld.LastSeq)
		}
		c.Close()
	}
}

// failingSeqStore holds a position it cannot read.
type failingSeqStore struct{ MemorySeqStore }

func (*failingSeqStore) Load(context.Context, SeqKey) (int64, bool, error) {
	return 0, false, errors.New("disk unreadable")
}

// A saved position that cannot be used (Load fails, or it is out of range) may hide missed
// events as surely as one the server could not replay: the first Connected says ErrEventsLost.
func TestUnreadablePositionReportsEventsLost(t *testing.T) {
	for name, store := range map[string]SeqStore{
		"load fails":   &failingSeqStore{},
		"out of range": &MemorySeqStore{},
	} {
		t.Run(name, func(t *testing.T) {
			_ = store.Save(context.Background(), SeqKey{UserID: "alice", DeviceID: "dev1"}, -5)
			fs := newFakeServer(t)
			rec := newRecorder()
			ctx := testCtx(t)
			c, err := Dial(ctx, fs.url(), Options{SeqStore: store, EventHandler: rec})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Login(ctx, jwtWithSub("alice"), "dev1"); err != nil {
				t.Fatalf("Login: %v", err)
			}
			if sc := rec.waitState(t, Connected); !errors.Is(sc.reason, ErrEventsLost) {
				t.Fatalf("Connected with reason %v, want ErrEventsLost", sc.reason)
			}
		})
	}
}

func TestTokenSubject(t *testing.T) {
	if got := tokenSubject(jwtWithSub("bob")); got != "bob" {
		t.Fatalf("tokenSubject = %q", got)
	}
	for _, tok := range []string{"", "opaque", "a.b.c", "a.!!.c"} {
		if got := tokenSubject(tok); got != "" {
			t.Fatalf("tokenSubject(%q) = %q, want empty", tok, got)
		}
	}
}
