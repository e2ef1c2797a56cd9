package switchboard

import (
	"context"
	"errors"

	"github.com/dialtone/dialtone/internal/call"
)

// ErrNotFound is returned by Store.Call for an unknown call.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Store.Commit when the change was decided on stale data: a call's
// stored version is not CallWrite.PrevVersion, or a BusyWrite or a Claim meets a busy record
// of its user for another call. Nothing of the change was applied; the caller reloads and
// decides again.
var ErrConflict = errors.New("conflict")

// ErrKeyTaken is returned by Store.Commit when the change's idempotency record meets a record
// of the same user and key created at or after Change.IdemSince: the request was already
// carried out (R7.3). Nothing of the change was applied.
var ErrKeyTaken = errors.New("idempotency key taken")

// ErrStorageUnavailable is wrapped by a Store's error when its storage cannot take writes (a
// full disk, an I/O error, a read-only file system) or cannot be read (damaged pages): nothing
// of the change was applied, and the same request may succeed once the storage is back.
var ErrStorageUnavailable = errors.New("storage unavailable")

// Publisher receives the log entries of every committed change, with their sequence numbers,
// in commit order, after the change is durable and before the Commit that wrote it returns,
// so each user's entries are published in sequence order. A Store takes one when it is
// opened (cmd/dialtoned wires the bus); it runs on the store's commit path and must neither
// block nor panic.
type Publisher func(entries []LogEntry)

// Store keeps calls, the per-user event logs, busy records and idempotency records durably.
// Every method is safe for concurrent use. A store enforces only what its schema guarantees
// (versions, one busy record per user); call rules live in internal/call and here.
type Store interface {
	// Call returns the call with id, or ErrNotFound.
	Call(ctx context.Context, id string) (call.Call, error)

	// BusyCall returns the ID of the call in which userID is "in a call" (§1), or "" if none.
	BusyCall(ctx context.Context, userID string) (string, error)

	// Commit applies change atomically and durably (R7.1: on return, it survives a crash) and
	// returns the sequence numbers it gave the change's log entries, in order. Concurrent
	// commits may share one transaction and one disk flush (group commit); each change still
	// applies or fails alone. It returns ErrConflict and ErrKeyTaken as documented there. If
	// ctx ends, Commit returns ctx.Err() only when the change was not applied; once a change
	// is being applied, Commit waits for and reports its outcome.
	Commit(ctx context.Context, change Change) ([]int64, error)

	// Idempotency returns the record of userID's key, if one was committed at or after since.
	Idempotency(ctx context.Context, userID, key string, since int64) (IdempotencyRecord, bool, error)

	// ReadLog returns up to limit entries of userID's log with seq > afterSeq, oldest first.
	ReadLog(ctx context.Context, userID string, afterSeq int64, limit int) ([]LogEntry, error)

	// LogBounds returns, in this order, userID's oldest sequence, one past the greatest that
	// retention deleted (1 when none; head + 1 when nothing is retained), so that every entry
	// after oldest − 1 is retained, and its head sequence (0 before any event). A user's seqs
	// may jump, so oldest need not be the seq of an entry.
	LogBounds(ctx context.Context, userID string) (oldest, head int64, err error)

	// ListCalls returns up to count calls whose callUserList holds userID, newest first (by
	// when the user entered the call), starting after the page cursor before (0 = newest).
	// next is the cursor of the following page: a positive integer below 2^53, or 0 when
	// nothing older exists. Pages never repeat or skip a call.
	ListCalls(ctx context.Context, userID string, before int64, count int) (calls []call.Call, next int64, err error)

	// RingingCalls returns the Started calls in which userID is pending (R5.3) and the head of
	// userID's log, both read from one snapshot: the calls are as userID's events up to head
	// left them, and no later.
	RingingCalls(ctx context.Context, userID string) (calls []call.Call, head int64, err error)

	// DueCalls returns every Started call that has a deadline, with its call.NextDue.
	DueCalls(ctx context.Context) ([]Due, error)

	// BusyRecords returns every busy record: the users "in a call" and the call.
	BusyRecords(ctx context.Context) ([]BusyWrite, error)

	// Prune deletes log entries created before logBefore (keeping head sequences),
	// idempotency records created before idemBefore, and calls that ended before
	// endedBefore with their member rows.
	Prune(ctx context.Context, logBefore, idemBefore, endedBefore int64) error

	// Damaged takes err, which says a row the store returned holds what no switchboard wrote
	// although the store read it as its own (an idempotency reply that does not decode as a
	// reply), for damage as the store's own reads find it, and
	// returns the error the read that met it fails with, which wraps ErrStorageUnavailable.
	Damaged(err error) error

	OutboxStore

	// Close waits for commits in flight and releases the store.
	Close() error
}

// Change is everything one decision writes, committed atomically.
type Change struct {
	Calls   []CallWrite
	Members []Member       // users new to a call's callUserList (for ListCalls and RingingCalls)
	Busy    []BusyWrite    // applied in order: leave records before entering new ones
	Claims  []Claim        // checked after Busy is applied
	Log     []LogEntry     // appended; each gets its user's next sequence number
	Outbox  []OutboxRecord // appended; each gets the next outbox ID
	// Idem, when not nil, is stored with the change. A record of the same user and key
	// created at or after IdemSince makes the commit fail with ErrKeyTaken; an older one is
	// replaced, so a key may be reused once its record expired.
	Idem      *IdempotencyRecord
	IdemSince int64 // Unix ms
}

// CallWrite stores a call. PrevVersion is the version the decision read (0 for a new call);
// the write fails with ErrConflict unless the stored version still equals it.
type CallWrite struct {
	Call        call.Call
	PrevVersion int64
}

// Member says that UserID appears in CallID's callUserList. A Member already stored is ignored.
type Member struct {
	UserID string
	CallID string
}

// BusyWrite sets (InCall) or clears a user's busy record for CallID. Setting fails with
// ErrConflict when the user has a record for another call; clearing a record the user does not
// have for CallID does nothing.
type BusyWrite struct {
	UserID string
	CallID string
	InCall bool
}

// Claim says that the change was decided on UserID being in no call but CallID (R3.1, R3.3,
// R3.7): once the change's Busy writes are applied, a busy record of UserID for another call
// makes the commit fail with ErrConflict. It guards the changes that do not put the user in a
// call themselves (an accept that ends a general call, R4.1), which no BusyWrite would check.
type Claim struct {
	UserID string
	CallID string
}

// LogEntry is one event in a user's log (R7.2): the wire event name, its encoded data and the
// devices it targets. Data is never empty: the switchboard writes every event's JSON, and a
// store reads an entry back without data, which a device would get as a frame that is no JSON,
// as damage (ReadLog fails with ErrStorageUnavailable).
type LogEntry struct {
	UserID string
	Seq    int64 // assigned by Commit
	// Prev is the seq of the user's entry before this one (0: none), assigned by Commit. A
	// user's seqs strictly increase but may jump (at a start of the store), so a reader
	// following the log from a seq knows it missed nothing when the next entry's Prev is it.
	Prev      int64
	Target    call.TargetKind
	DeviceID  string
	Event     string
	Data      []byte
	CreatedAt int64 // Unix ms
}

// Includes reports whether deviceID of the entry's user gets it.
func (e LogEntry) Includes(deviceID string) bool {
	return call.Recipient{Target: e.Target, DeviceID: e.DeviceID}.Includes(deviceID)
}

// IdempotencyRecord remembers a successful request (R7.3): what was asked (Fingerprint: op and
// parameters) and the reply given.
type IdempotencyRecord struct {
	UserID      string
	Key         string
	Fingerprint string
	Reply       []byte
	CreatedAt   int64 // Unix ms
}

// Due is a call's next deadline.
type Due struct {
	CallID string
	At     int64 // Unix ms
}

// Outbox kinds: what a delivery worker reads back with OutboxHeads.
const (
	OutboxWebhook = "webhook" // a behaviour §10 callback body
	OutboxPush    = "push"    // a behaviour §9 push, encoded by wire.EncodePush
)

// OutboxRecord is one message to deliver after its change commits (webhooks §10, pushes §9),
// written in the same transaction as the change so that nothing committed is lost and nothing
// uncommitted is sent. Records of one kind are read back in commit order (ID ascending).
type OutboxRecord struct {
	ID        int64  // assigned by Commit; ascending in commit order, never reused (the outbox resumes its passes by it)
	Kind      string // OutboxWebhook or OutboxPush
	OrderKey  string // the ordering key: a webhook's call, a push's PushOrderKey; delivery is ordered per key
	Body      []byte
	CreatedAt int64 // Unix ms
	// Supersedes says that the records of the same Kind and OrderKey committed before this one
	// and not yet delivered are obsolete: Commit deletes them, in the same transaction. A
	// withdrawal push supersedes its user's invitation push that waits for a retry (§9), which
	// would otherwise ring a phone for a call that no longer rings it, and hold the withdrawal.
	Supersedes bool
}

// PushOrderKey is the ordering key (OutboxRecord.OrderKey) of a push of callID to userID. Only one
// user's pushes of a call need an order (an invitation before its withdrawal, §9), so keying them
// by call and user lets one user's failing push hold up no other user's (docs/push.md). A userID
// has no space, so the key names one (call, user).
func PushOrderKey(callID, userID string) string { return callID + " " + userID }

// PushTarget is a device's registration for offline push (§9). A (Provider, Token) pair belongs
// to one user: registering it again, for any user, replaces the old registration.
type PushTarget struct {
	UserID   string
	DeviceID string // the device that registered it ("" when registered without a device)
	Provider string // webhook, fcm or apns
	Token    string
	VoIP     bool
	BundleID string // APNs topic / FCM app, where the provider needs one
}

// OutboxStore is the part of a Store that delivery workers and push registration use. Every
// Store implements it; the conformance suite checks it.
type OutboxStore interface {
	// OutboxHeads returns the oldest record of kind of each ordering key (OutboxRecord.OrderKey),
	// for the keys whose oldest record has an ID above afterID: up to limit records, oldest
	// first. A key's later records wait for its head to be delivered or given up (behaviour §10).
	OutboxHeads(ctx context.Context, kind string, afterID int64, limit int) ([]OutboxRecord, error)

	// DeleteOutbox deletes the records with these IDs (delivered or given up); unknown IDs are
	// ignored.
	DeleteOutbox(ctx context.Context, ids []int64) error

	// PutPushTarget stores t, replacing any registration of the same (Provider, Token).
	PutPushTarget(ctx context.Context, t PushTarget) error

	// DeletePushTarget removes the registration of (provider, token); with userID != "", only
	// if it belongs to that user.
	DeletePushTarget(ctx context.Context, userID, provider, token string) error

	// DeletePushTargets removes userID's registrations made from deviceID, or all of them
	// when deviceID is "" (logout, §9).
	DeletePushTargets(ctx context.Context, userID, deviceID string) error

	// PushTargets returns userID's registrations.
	PushTargets(ctx context.Context, userID string) ([]PushTarget, error)

	// MarkInvitationPushed records that userID was sent an invitation push for callID (§9:
	// only such users get a withdrawal push). Marking again replaces the mark.
	MarkInvitationPushed(ctx context.Context, callID, userID string, at int64) error

	// InvitationPushed reports whether userID has callID's mark.
	InvitationPushed(ctx context.Context, callID, userID string) (bool, error)

	// ClearInvitationPushed removes userID's mark of callID, if any. Prune removes the marks
	// of the calls it deletes.
	ClearInvitationPushed(ctx context.Context, callID, userID string) error
}
