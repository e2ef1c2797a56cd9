package call

import "fmt"

// Mode is a call's invitation mode.
type Mode int8

// The modes (wire values).
const (
	General  Mode = 0
	Advanced Mode = 1
)

// UserState is a user's state in a call (wire values of behaviour §2).
//
// Allowed transitions (behaviour §3, §5 tables):
//
//	Inviting, NotYetReceived → Received (R5.1), NotYetReceived (R5.2, from Inviting), Accepted (R3.3,
//	                          R3.7), Rejected (R3.4), BeCancelled (R3.2, R4.3), Timeout (R3.5)
//	Received                → Accepted, Rejected, BeCancelled, Timeout
//	Accepted                → Quit (R3.8, R6.4), Cancelled (caller only: R3.2, R3.3b, R4.3)
//	Rejected, Timeout, Quit → Accepted (R3.7 callJoin), Inviting (R3.6 re-invite)
//	Cancelled, BeCancelled  → Inviting (R3.6 re-invite)
//
// No transition happens in an Ended call (R4.4).
type UserState int8

// The user states. 4 is reserved (ZIM's removed Offline) and Ended (8) is never set by v1.
const (
	Unknown        UserState = -1
	Inviting       UserState = 0
	Accepted       UserState = 1
	Rejected       UserState = 2
	Cancelled      UserState = 3
	Received       UserState = 5
	Timeout        UserState = 6
	Quit           UserState = 7
	NotYetReceived UserState = 9
	BeCancelled    UserState = 10
)

// Pending reports whether s is Inviting, NotYetReceived or Received.
func (s UserState) Pending() bool { return s == Inviting || s == NotYetReceived || s == Received }

// Active reports whether s is pending or Accepted.
func (s UserState) Active() bool { return s.Pending() || s == Accepted }

// Terminal reports whether s is Rejected, Cancelled, BeCancelled, Timeout or Quit.
func (s UserState) Terminal() bool {
	return s == Rejected || s == Cancelled || s == BeCancelled || s == Timeout || s == Quit
}

// State is the state of a whole call.
type State int8

// The call states (wire values).
const (
	Started State = 1
	Ended   State = 2
)

// JoinPolicy says who may callJoin a call it was never in (R3.7).
type JoinPolicy int8

// The join policies.
const (
	JoinMembers JoinPolicy = iota // only users already in callUserList (default)
	JoinAnyone                    // anyone who knows the callID
)

// MaxListedUsers bounds the users a call lists (callUserList), every user ever invited to or
// joined into it: users who left stay listed while others are invited, and without a bound one
// call's list, which every invitation and query carries, could outgrow the largest frame a
// client takes (protocol.MaxServerFrameBytes; an entry is at most about 13 KB in JSON). A
// callingInvite or callJoin that would list more is 6000272.
const MaxListedUsers = 1000

// Config holds the server settings the rules depend on. A zero (or negative) MaxCallUsers or
// NotReceivedCheckMs takes its default.
type Config struct {
	MaxCallUsers       int        // active users per call, caller included (default 10)
	JoinPolicy         JoinPolicy // R3.7
	NotReceivedCheckMs int64      // R5.2 delay, 3000..5000 (default 5000)
}

// DefaultConfig returns the defaults of behaviour §3 and §5b.
func DefaultConfig() Config {
	return Config{MaxCallUsers: 10, JoinPolicy: JoinMembers, NotReceivedCheckMs: 5000}
}

// PushConfig asks for offline pushes (behaviour §9).
type PushConfig struct {
	Title, Content, Payload, ResourcesID string
}

// User is one entry of a call's callUserList. Times are Unix milliseconds, 0 when not
// applicable (behaviour §10b).
type User struct {
	ID           string
	State        UserState
	Inviter      string // "" for the caller until re-invited and for joiners never invited
	ExtendedData string // the user's own, from its accept/reject/join/quit config; "" on (re-)invite

	// The invitation that rang the user last (R3.1 or R3.6): its extendedData, its pushConfig
	// (nil when it had none) and its ring timeout in seconds. Carried by callInvitationReceived
	// and by the synthesized invitations of R5.3; InvitePush decides withdrawal pushes (§9).
	InviteData    string
	InvitePush    *PushConfig
	InviteTimeout int

	Deadline   int64  // ring deadline; non-zero exactly while pending in a Started call
	CheckAt    int64  // R5.2 not-received check; non-zero only while Inviting with the check due
	AcceptTime int64  // latest move to Accepted (the caller's is createTime); 0 after a re-invite
	UpdateTime int64  // latest state change of this user
	MainDevice string // R3.7/§1: device that created, accepted or joined; "" unless Accepted
}

// Call is the whole state of one call: what the store keeps and Apply transforms.
type Call struct {
	ID                     string
	Mode                   Mode
	Caller                 string
	ExtendedData           string
	CreateTime             int64
	EndTime                int64 // 0 while Started
	State                  State
	Version                int64 // 1 at creation, +1 with every change
	EnableNotReceivedCheck bool
	Answered               bool   // set once a user other than the caller is Accepted (§1); never cleared
	Users                  []User // in order of first invitation or join; the caller first
}

// User returns the entry of userID, or nil when the user was never in the call. The pointer
// aliases c.Users.
func (c *Call) User(userID string) *User {
	for i := range c.Users {
		if c.Users[i].ID == userID {
			return &c.Users[i]
		}
	}
	return nil
}

// AcceptTimeOf returns the acceptTime of userID (§10b), 0 when the user was never in the call.
func (c *Call) AcceptTimeOf(userID string) int64 {
	if u := c.User(userID); u != nil {
		return u.AcceptTime
	}
	return 0
}

// UserAt returns the entry of userID as User does, looking first at index i: the index the
// user has in another version of the call. A call's users are only ever appended, never
// removed or reordered, so a user has the same index in every version that lists it and is
// found at once; comparing two versions of a call user by user (MaxListedUsers of them) thus
// takes time linear in its users, where User for each would take their square.
func (c *Call) UserAt(i int, userID string) *User {
	if i < len(c.Users) && c.Users[i].ID == userID {
		return &c.Users[i]
	}
	return c.User(userID)
}

// NextDue returns the earliest deadline or not-received check of the call, or 0 when none is
// set. The shell schedules a Tick at that time.
func (c *Call) NextDue() int64 {
	var due int64
	for _, u := range c.Users {
		for _, t := range [2]int64{u.Deadline, u.CheckAt} {
			if t != 0 && (due == 0 || t < due) {
				due = t
			}
		}
	}
	return due
}

// dueAt reports whether a deadline of c is due at now (Expire): c is Started and its earliest
// deadline is at now or before.
func (c *Call) dueAt(now int64) bool {
	due := c.NextDue()
	return c.State == Started && due != 0 && due <= now
}

// CheckRinging returns an error when a user rings in c (pending in a Started call) without a
// ring deadline, which no rule leaves (§10b): nothing would ever time the user out (R3.5), and
// a change decided on c would write it back so. A call read from storage is checked before it
// is decided on; the rules keep it true of every call they return.
func (c *Call) CheckRinging() error {
	for i := range c.Users {
		if u := &c.Users[i]; u.Deadline == 0 && ringing(c, u) {
			return fmt.Errorf("user %d rings without a ring deadline", i)
		}
	}
	return nil
}

// LatestTime returns the latest time c records: its createTime, endTime, or a user's updateTime
// or acceptTime. A change decided at a time before it (a wall clock stepped back) is made at
// this time instead, so a call's times follow the order of its changes.
func (c *Call) LatestTime() int64 {
	t := max(c.CreateTime, c.EndTime)
	for _, u := range c.Users {
		t = max(t, u.UpdateTime, u.AcceptTime)
	}
	return t
}

// Clone returns a deep copy of c, so a result never aliases its input.
func (c Call) Clone() Call {
	users := make([]User, len(c.Users))
	copy(users, c.Users)
	for i := range users {
		if p := users[i].InvitePush; p != nil {
			cp := *p
			users[i].InvitePush = &cp
		}
	}
	c.Users = users
	return c
}
