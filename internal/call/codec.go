package call

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// codecVersion is the first byte of every encoded call. A change to the layout takes a new
// version and keeps decoding the old ones, so stored calls never need rewriting (stores keep
// calls, and idempotency records their replies, in this encoding).
const codecVersion = 1

// The flag bits of an encoded call and of an encoded user.
const (
	flagNotReceivedCheck = 1 << 0
	flagAnswered         = 1 << 1
	flagInvitePush       = 1 << 0
)

// errCorrupt reports an encoded call that does not decode.
var errCorrupt = errors.New("corrupt call encoding")

// AppendBinary appends the compact binary encoding of c to dst (encoding.BinaryAppender): a
// version byte, then every field in declaration order, strings as uvarint length + bytes and
// integers as (zig-zag) varints. It is several times smaller and faster than JSON for the few
// hundred bytes of a typical call. It never fails.
func (c *Call) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, codecVersion)
	dst = appendString(dst, c.ID)
	dst = binary.AppendVarint(dst, int64(c.Mode))
	dst = appendString(dst, c.Caller)
	dst = appendString(dst, c.ExtendedData)
	dst = binary.AppendVarint(dst, c.CreateTime)
	dst = binary.AppendVarint(dst, c.EndTime)
	dst = binary.AppendVarint(dst, int64(c.State))
	dst = binary.AppendVarint(dst, c.Version)
	var flags byte
	if c.EnableNotReceivedCheck {
		flags |= flagNotReceivedCheck
	}
	if c.Answered {
		flags |= flagAnswered
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(c.Users)))
	for i := range c.Users {
		u := &c.Users[i]
		dst = appendString(dst, u.ID)
		dst = binary.AppendVarint(dst, int64(u.State))
		dst = appendString(dst, u.Inviter)
		dst = appendString(dst, u.ExtendedData)
		dst = appendString(dst, u.InviteData)
		if p := u.InvitePush; p != nil {
			dst = append(dst, flagInvitePush)
			dst = appendString(dst, p.Title)
			dst = appendString(dst, p.Content)
			dst = appendString(dst, p.Payload)
			dst = appendString(dst, p.ResourcesID)
		} else {
			dst = append(dst, 0)
		}
		dst = binary.AppendVarint(dst, int64(u.InviteTimeout))
		dst = binary.AppendVarint(dst, u.Deadline)
		dst = binary.AppendVarint(dst, u.CheckAt)
		dst = binary.AppendVarint(dst, u.AcceptTime)
		dst = binary.AppendVarint(dst, u.UpdateTime)
		dst = appendString(dst, u.MainDevice)
	}
	return dst, nil
}

// MarshalBinary returns the encoding AppendBinary appends, in a buffer allocated once, at the
// most the encoding can take (maxBinarySize) (encoding.BinaryMarshaler). It never fails.
func (c *Call) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, c.maxBinarySize()))
}

// maxBinarySize bounds the length of c's encoding: its strings' bytes, and for every number
// and string length the longest varint, for every flag a byte.
func (c *Call) maxBinarySize() int {
	const (
		callNumbers = 3 + 5 + 1 // the lengths of its strings, its integers, the users' count
		userNumbers = 5 + 6     // the lengths of a user's strings, its integers
		pushNumbers = 4         // the lengths of an invitation push's strings
	)
	n := 2 + callNumbers*binary.MaxVarintLen64 + len(c.ID) + len(c.Caller) + len(c.ExtendedData)
	for i := range c.Users {
		u := &c.Users[i]
		n += 1 + userNumbers*binary.MaxVarintLen64 + len(u.ID) + len(u.Inviter) + len(u.ExtendedData) +
			len(u.InviteData) + len(u.MainDevice)
		if p := u.InvitePush; p != nil {
			n += pushNumbers*binary.MaxVarintLen64 + len(p.Title) + len(p.Content) + len(p.Payload) + len(p.ResourcesID)
		}
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// UnmarshalBinary decodes what AppendBinary wrote into c (encoding.BinaryUnmarshaler), when
// each of its values is one of its type's (checkValues): any other says the bytes were
// damaged, and is an error as a truncated encoding is. It never panics on corrupt input; on
// error c is unchanged.
func (c *Call) UnmarshalBinary(b []byte) error {
	d, err := decodeCall(b)
	if err == nil {
		*c = d
	}
	return err
}

func decodeCall(b []byte) (Call, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return Call{}, fmt.Errorf("%w: unknown version", errCorrupt)
	}
	d := decoder{b: b[1:]}
	var c Call
	c.ID = d.string()
	c.Mode = Mode(d.varint())
	c.Caller = d.string()
	c.ExtendedData = d.string()
	c.CreateTime = d.varint()
	c.EndTime = d.varint()
	c.State = State(d.varint())
	c.Version = d.varint()
	flags := d.byte()
	c.EnableNotReceivedCheck = flags&flagNotReceivedCheck != 0
	c.Answered = flags&flagAnswered != 0
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every user takes at least one byte
		return Call{}, fmt.Errorf("%w: %d users", errCorrupt, n)
	}
	if n > 0 {
		c.Users = make([]User, n)
	}
	for i := range c.Users {
		u := &c.Users[i]
		u.ID = d.string()
		u.State = UserState(d.varint())
		u.Inviter = d.string()
		u.ExtendedData = d.string()
		u.InviteData = d.string()
		if d.byte()&flagInvitePush != 0 {
			u.InvitePush = &PushConfig{Title: d.string(), Content: d.string(), Payload: d.string(), ResourcesID: d.string()}
		}
		u.InviteTimeout = int(d.varint())
		u.Deadline = d.varint()
		u.CheckAt = d.varint()
		u.AcceptTime = d.varint()
		u.UpdateTime = d.varint()
		u.MainDevice = d.string()
	}
	if d.err != nil {
		return Call{}, d.err
	}
	if len(d.b) != 0 {
		return Call{}, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return c, c.checkValues()
}

// checkValues returns an error wrapping errCorrupt when c holds a value that is none of its
// type's (types.go), which the rules would carry on and write back: a mode other than General
// and Advanced (an answered call nobody could leave: quit and end are advanced-mode, 6000286,
// and a cancel is refused once answered, 6000271), a state other than Started and Ended (a call
// no op reaches, R4.4), a user state of no wire value (§2). A few comparisons per user.
func (c *Call) checkValues() error {
	switch {
	case c.Mode != General && c.Mode != Advanced:
		return fmt.Errorf("%w: mode %d", errCorrupt, c.Mode)
	case c.State != Started && c.State != Ended:
		return fmt.Errorf("%w: call state %d", errCorrupt, c.State)
	}
	for i := range c.Users {
		if s := c.Users[i].State; !s.Active() && !s.Terminal() {
			return fmt.Errorf("%w: user %d has state %d", errCorrupt, i, s)
		}
	}
	return nil
}

// decoder reads the encoding; after the first error every read returns zero and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	d.skip(n, "varint")
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.skip(n, "uvarint")
	return v
}

// skip consumes the n bytes of a number; n ≤ 0 means the number was truncated or overflowed
// (and the binary package returned 0 for it).
func (d *decoder) skip(n int, what string) {
	if n <= 0 {
		d.fail(what)
		return
	}
	d.b = d.b[n:]
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
