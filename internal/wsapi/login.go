package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/protocol"
)

// handle decodes one text frame and answers it (protocol.md "Transport"; precedence of §8:
// 6000121, 6000292, 6000002, 6000001). Every request that is not refused for want of a login
// counts against the connection's requests per second, a login included. Nothing that arrives
// after the connection was kicked is carried out: it is closing, and a client repeats what
// it still needs once it has reconnected.
func (s *session) handle(ctx context.Context, frame []byte) {
	if !s.takesRequests() {
		return
	}
	req, err := protocol.DecodeRequest(frame)
	if errors.Is(err, protocol.ErrBadFrame) {
		s.badFrame(err.Error())
		return
	}
	start := time.Now()
	loggedIn := s.isLoggedIn()
	op, known := s.srv.handlers[req.Op]
	switch {
	case !loggedIn && req.Op != protocol.OpLogin:
		s.refuse(req, protocol.CodeNotLoggedIn, "log in first", start)
		return
	case !s.reqs.take(s.srv.now()):
		s.refuse(req, protocol.CodeRateLimited, "too many requests", start)
		return
	case req.Op == protocol.OpLogin && !loggedIn:
		if err != nil {
			s.refuse(req, protocol.CodeInvalidParameter, err.Error(), start)
			return
		}
		// Handled before the next frame is read: no request overtakes the catch-up.
		if code, answered := s.login(ctx, req); answered {
			s.srv.cfg.Observer.Op(req.Op, int(code), time.Since(start))
		}
		return
	case !known:
		s.refuse(req, protocol.CodeUnknownOp, "unknown op "+req.Op, start)
		return
	case err != nil: // an idem that is not a key (ErrBadIdem); an invite spends one of the user's invites all the same
		if spendsInvite(req.Op) && !s.srv.takeInvite(s.userID) {
			s.refuse(req, protocol.CodeRateLimited, errRateLimited.Error(), start) // wins over 6000001 (§8)
			return
		}
		s.refuse(req, protocol.CodeInvalidParameter, err.Error(), start)
		return
	case req.Op == protocol.OpLogout:
		// Before the next frame is read, and after the device's requests before it, on this
		// connection or on one it replaced: none of them commits after the device's loss, so
		// no call outlives the device (R6.1, R4.3, R6.4). Neither the wait nor the logout's
		// commit is the client's silence.
		resume := s.holdSilence()
		s.waitDeviceOps()
		s.carryOut(ctx, op, req, start)
		resume()
		return
	}
	if !s.takeOpSlot(ctx) {
		return
	}
	if !s.startOp() {
		<-s.ops
		return
	}
	s.srv.tasks.Go(func() {
		defer s.wg.Done()
		defer func() { <-s.ops }()
		s.carryOut(ctx, op, req, start)
	})
}

// takeOpSlot waits for one of the connection's op slots (maxConcurrentOps) and reports whether
// it got one before ctx ended. The session reads no frame while it waits, so a live client's
// heartbeats wait unread: the wait does not count as its silence (R6.1).
func (s *session) takeOpSlot(ctx context.Context) bool {
	select {
	case s.ops <- struct{}{}:
		return true
	default:
	}
	defer s.holdSilence()()
	select {
	case s.ops <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// holdSilence stops the heartbeat timeout while the session reads no frame for a reason of its
// own (a catch-up, a wait for an op slot or for the ops a logout follows), and returns what
// starts it again. Only the reader
// calls it. A peer that dies meanwhile is found once reading goes on, or by the send queue's
// write timeout.
func (s *session) holdSilence() (resume func()) {
	s.idle.Stop()
	return func() { s.idle.Reset(s.srv.cfg.HeartbeatTimeout) }
}

// startOp counts an op in flight (s.wg) unless the session was kicked or stopped taking
// requests, and reports whether it did: nothing is carried out after either, so once kicked,
// s.wg.Wait waits for every op the session will ever carry out (waitDeviceOps, shutDown).
func (s *session) startOp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kicked || s.draining {
		return false
	}
	s.wg.Add(1)
	return true
}

// carryOut carries out req with op and answers it.
func (s *session) carryOut(ctx context.Context, op opFunc, req protocol.Request, start time.Time) {
	result, err := op(ctx, s, req)
	code := protocol.Code(0)
	if err != nil {
		var message string
		code, message = s.srv.errorCode(err)
		s.sendError(req.ID, code, message)
	} else if result != nil {
		s.reply(req.ID, result)
	}
	s.srv.cfg.Observer.Op(req.Op, int(code), time.Since(start))
}

// unknownOp is the op under which metrics count a request whose op the server does not know,
// or a frame that is no request, so that clients cannot add metric labels.
const unknownOp = "unknown"

// refuse answers req with an error before any handler runs, and counts it under its op (under
// unknownOp when the op is not one the server knows).
func (s *session) refuse(req protocol.Request, code protocol.Code, message string, start time.Time) {
	s.sendError(req.ID, code, message)
	op := req.Op
	if _, known := s.srv.handlers[op]; !known {
		op = unknownOp
	}
	s.srv.cfg.Observer.Op(op, int(code), time.Since(start))
}

// login authenticates the connection (protocol.md "Login"), registers the device (R6.2),
// then replies and sends the missed events (R7.2) or the synthesized invitations (R5.3)
// before any live event. The connections of the device it replaces are kicked only once
// everything the reply depends on has been read: a login that fails (6000270) leaves the
// device its connection. A login whose connection was kicked before it registered the device
// (the login timeout, a shutdown) is not answered and changes nothing: answered is false.
func (s *session) login(ctx context.Context, req protocol.Request) (code protocol.Code, answered bool) {
	refuse := func(code protocol.Code, message, kick string) (protocol.Code, bool) {
		s.sendError(req.ID, code, message)
		if kick != "" {
			s.kick(kick)
		}
		return code, true
	}
	var data protocol.LoginData
	if err := protocol.DecodeData(req.Data, &data); err != nil {
		return refuse(protocol.CodeInvalidParameter, "invalid login data: "+err.Error(), "")
	}
	if data.Token == "" {
		return refuse(protocol.CodeInvalidParameter, "login needs a token and a deviceID", "")
	}
	if !s.srv.cfg.ValidDeviceID(data.DeviceID) || (data.LastSeq != nil && (*data.LastSeq < 0 || *data.LastSeq > protocol.MaxInteger)) {
		return refuse(protocol.CodeInvalidParameter, "invalid deviceID or lastSeq", "")
	}
	userID, err := s.srv.verifier.Verify(data.Token, s.srv.now())
	if err != nil {
		// The client is told only 6000291 (§8); the reason is for an operator chasing a token
		// minted with the wrong secret, audience or lifetime.
		s.srv.log.Debug("login refused", "ip", s.ip, "err", err)
		return refuse(protocol.CodeAuthFailed, "authentication failed", protocol.KickAuthFailed)
	}
	switch s.srv.register(s, userID, data.DeviceID) {
	case tooManyDevices:
		return refuse(protocol.CodeTooManyDevices, "too many devices logged in", protocol.KickTooManyDevices)
	case newerConnection:
		return refuse(protocol.CodeInvalidParameter, "a newer connection of this device is logged in", protocol.KickReplaced)
	case sessionKicked:
		return 0, false
	}
	s.srv.backend.DeviceConnected(userID, data.DeviceID)
	if s.srv.cfg.RememberUsers {
		s.srv.seen.add(userID)
	}
	unsubscribe := s.srv.bus.Subscribe(userID, s.deliver)
	s.mu.Lock()
	s.unsubscribe = unsubscribe
	s.mu.Unlock()

	start, err := s.readCatchUp(ctx, userID, data.LastSeq)
	if err != nil { // the login fails and changes nothing: the device keeps its connection
		s.srv.reinstate(s)
		s.srv.log.Warn("login catch-up failed", "userID", userID, "err", err)
		return refuse(protocol.CodeInternal, internalMessage(err), protocol.KickShutdown)
	}
	for _, r := range s.replacedSessions() {
		r.kick(protocol.KickReplaced)
	}
	if err := s.catchUp(ctx, req.ID, userID, data.DeviceID, start); err != nil {
		s.srv.log.Warn("login catch-up failed", "userID", userID, "err", err)
		s.kick(protocol.KickShutdown)
	}
	return 0, true
}

// catchUpStart is what a login reads before its reply (readCatchUp).
type catchUpStart struct {
	head     int64                  // the reply's headSeq
	lastSeq  int64                  // when caughtUp: the login's lastSeq
	caughtUp bool                   // lastSeq is usable (R7.2)
	missed   []switchboard.LogEntry // when caughtUp: the first page of events after lastSeq
	ringing  []call.Call            // otherwise: the calls to synthesize invitations of (R5.3)
}

// readCatchUp reads what the login reply depends on. The first page of missed events is read
// before the reply: retention may have deleted some of them since the bounds were read, and
// then lastSeq is no longer usable (R7.2). Without a usable lastSeq the ringing calls are read
// before the reply too, with the head of the log they reflect, which the reply gives as
// headSeq: the device starts after every event the synthesized invitations cover, so neither
// this connection nor a later one resumed from that position sends one of them again.
func (s *session) readCatchUp(ctx context.Context, userID string, lastSeq *int64) (catchUpStart, error) {
	head, missed, caughtUp, err := s.missedEvents(ctx, userID, lastSeq)
	if err != nil {
		return catchUpStart{}, err
	}
	if caughtUp {
		return catchUpStart{head: head, lastSeq: *lastSeq, caughtUp: true, missed: missed}, nil
	}
	ringing, head, err := s.srv.backend.RingingCalls(ctx, userID)
	return catchUpStart{head: head, ringing: ringing}, err
}

// catchUp sends the login reply, then the missed events or the synthesized invitations that
// start holds, then the live events that arrived meanwhile, in order and without duplicates.
// The caller ends the session on an error, which comes after the reply.
func (s *session) catchUp(ctx context.Context, id int64, userID, deviceID string, start catchUpStart) error {
	now := s.srv.now()
	s.reply(id, protocol.LoginResult{
		UserID: userID, DeviceID: deviceID, HeadSeq: start.head, CaughtUp: start.caughtUp,
		HeartbeatIntervalMs: s.srv.cfg.HeartbeatInterval.Milliseconds(),
		HeartbeatTimeoutMs:  s.srv.cfg.HeartbeatTimeout.Milliseconds(),
		ServerTime:          now.UnixMilli(),
	})
	// The session reads no frame while it catches up, so a live client's heartbeats wait
	// unread: the catch-up's time does not count as its silence. A peer that dies meanwhile
	// stops taking frames, and the send queue's write timeout closes its connection.
	defer s.holdSilence()()
	var err error
	if start.caughtUp {
		err = s.replay(ctx, userID, deviceID, start.lastSeq, start.head, start.missed)
	} else {
		err = s.synthesize(ctx, userID, start.ringing, start.head)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	buffered := s.buffered
	s.buffered, s.catchingUp = nil, false
	s.forwardLocked(buffered)
	return nil
}

// missedEvents reads the bounds of userID's log and, when lastSeq is usable (R7.2), the first
// page of the events after it; caughtUp reports that it is, and then head is the log's head.
// A lastSeq between the bounds is usable only when the first entry after it follows it (its
// Prev) or it is the head: a seq the log never gave, such as one a device got from a run whose
// data a restored backup lost, is not. A device that never logged in (lastSeq nil) has
// nothing to catch up.
func (s *session) missedEvents(ctx context.Context, userID string, lastSeq *int64) (head int64, first []switchboard.LogEntry, caughtUp bool, err error) {
	if lastSeq == nil {
		return 0, nil, false, nil
	}
	oldest, head, err := s.srv.backend.LogBounds(ctx, userID)
	if err != nil || *lastSeq < oldest-1 || *lastSeq > head {
		return head, nil, false, err
	}
	if first, err = s.srv.backend.ReadLog(ctx, userID, *lastSeq, catchUpPage); err != nil {
		return 0, nil, false, err
	}
	caughtUp = len(first) > 0 && first[0].Prev == *lastSeq || len(first) == 0 && *lastSeq == head
	return head, first, caughtUp, nil
}

// errLogPruned ends a catch-up whose events retention deleted while they were being sent:
// the session is kicked, and the device's next login finds its lastSeq unusable (R7.2).
var errLogPruned = errors.New("missed events deleted by retention during catch-up")

// replay sends the device's events of the log after lastSeq up to head at least (R7.2),
// starting with first, the first page already read. The live entries buffered meanwhile that
// a page has sent are dropped from the buffer as it goes, so only those still to be sent
// count against the send queue's limit. Each entry names the seq it follows (its Prev), so an
// entry that does not follow the one before, or a log that ends before head, means retention
// deleted events before they could be sent: errLogPruned.
func (s *session) replay(ctx context.Context, userID, deviceID string, lastSeq, head int64, first []switchboard.LogEntry) error {
	entries := first
	for {
		for _, e := range entries {
			if e.Prev != lastSeq {
				return errLogPruned
			}
			lastSeq = e.Seq
			if e.Includes(deviceID) && !s.sendWait(ctx, eventFrame(e)) {
				return errSessionEnded
			}
		}
		s.mu.Lock()
		s.lastSeq = lastSeq
		s.buffered = slices.DeleteFunc(s.buffered, func(e switchboard.LogEntry) bool { return e.Seq <= lastSeq })
		s.mu.Unlock()
		if len(entries) < catchUpPage {
			if lastSeq < head {
				return errLogPruned
			}
			return nil
		}
		var err error
		if entries, err = s.srv.backend.ReadLog(ctx, userID, lastSeq, catchUpPage); err != nil {
			return err
		}
	}
}

// synthesize sends a callInvitationReceived for every call still ringing for the user (R5.3),
// calls as the user's events up to head left them; the live events after head follow.
func (s *session) synthesize(ctx context.Context, userID string, calls []call.Call, head int64) error {
	s.mu.Lock()
	s.lastSeq = head
	s.mu.Unlock()
	now := s.srv.now().UnixMilli()
	for _, c := range calls {
		ev, ok := wire.Invitation(c, userID, now)
		if !ok {
			continue
		}
		data, _ := json.Marshal(ev)
		frame, _ := json.Marshal(protocol.Event{Event: protocol.EventCallInvitationReceived, Data: data})
		if !s.sendWait(ctx, outFrame{frame}) {
			return errSessionEnded
		}
	}
	return nil
}

// registration is what register decided.
type registration int

const (
	registered      registration = iota
	tooManyDevices               // MaxDevicesPerUser other devices of the user hold a place (R6.2, holdsPlace)
	newerConnection              // the device is logged in on a connection accepted after s
	sessionKicked                // s was kicked: it is closing, and takes no device
)

// register makes s the session of (userID, deviceID). s remembers the session it replaces
// (R6.2), and those that one replaced in turn, while they run (replacedSessions): the login
// kicks them once it is sure to succeed, or gives the device back to them (reinstate). Of
// two connections of one device, the one accepted later wins whatever the order of their
// logins: a login read late from a connection the client already dropped must not kick the
// client's new connection. A session kicked before it registers takes no device: with s.mu
// held, register checks that s was not kicked and marks it logged in, so a loginTimeout kick
// (kick) comes either before, and the login changes nothing, or after, and is not made.
func (srv *Server) register(s *session, userID, deviceID string) registration {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	us := srv.users[userID]
	if us == nil {
		us = &userSessions{devices: map[string]*session{},
			invites: newBucket(srv.cfg.MaxInvitesPerMinute, 60e9, srv.now())}
		srv.users[userID] = us
	}
	replaced := us.devices[deviceID]
	s.mu.Lock() // after srv.mu, before those of the user's other sessions (holdsPlace, stillRunning)
	defer s.mu.Unlock()
	switch {
	case s.kicked:
		return sessionKicked
	case !holdsPlace(replaced) && us.placesTaken(deviceID) >= srv.cfg.MaxDevicesPerUser:
		return tooManyDevices
	case replaced != nil && replaced.accepted > s.accepted:
		return newerConnection
	}
	us.devices[deviceID] = s
	if replaced != nil {
		s.replaced = replaced.stillRunning()
	}
	if s.holdsUnauth {
		srv.releaseUnauthLocked(s.ip)
	}
	s.holdsUnauth = false
	s.userID, s.deviceID, s.loggedIn, s.catchingUp = userID, deviceID, true, true
	return registered
}

// placesTaken returns how many of the user's devices other than deviceID hold a place among
// maxDevicesPerUser (R6.2, holdsPlace); "" counts them all. The caller holds Server.mu.
func (us *userSessions) placesTaken(deviceID string) int {
	n := 0
	for id, sess := range us.devices {
		if id != deviceID && holdsPlace(sess) {
			n++
		}
	}
	return n
}

// holdsPlace reports whether sess, the registered session of a device (nil: none), holds the
// device's place among its user's maxDevicesPerUser (R6.2): a session kicked for any reason no
// longer does, though it stays registered until it ends, so that a later connection of its
// device still waits for its ops in flight (waitDeviceOps) and its device is lost only once it
// has ended (R6.1).
func holdsPlace(sess *session) bool {
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return !sess.kicked
}

// reinstate gives s's device back to the newest of the sessions s replaced that still takes
// requests, as it was before s's login, which failed; if none does, s stays registered until
// it ends. It does nothing when another session replaced s meanwhile: that one's login kicks
// them all. A session that ends afterwards unregisters itself; one that ended before, which
// found s in its place, unregistered nothing and is passed over.
func (srv *Server) reinstate(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	us := srv.users[s.userID]
	if us == nil || us.devices[s.deviceID] != s {
		return
	}
	for _, r := range s.replacedSessions() {
		if r.live() {
			us.devices[s.deviceID] = r
			return
		}
	}
}

// unregister removes s from the registry if it is still the session of its device.
func (srv *Server) unregister(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	us := srv.users[s.userID]
	if us == nil || us.devices[s.deviceID] != s {
		return
	}
	delete(us.devices, s.deviceID)
	now := srv.now()
	if us.unused(now) {
		delete(srv.users, s.userID)
	}
	if now.Sub(srv.swept) >= time.Minute {
		srv.swept = now
		for id, us := range srv.users {
			if us.unused(now) {
				delete(srv.users, id)
			}
		}
	}
}

// takeInvite consumes one of the user's invites for this minute. The user has an entry while
// one of its sessions makes the request.
func (srv *Server) takeInvite(userID string) bool {
	us := srv.userEntry(userID)
	return us != nil && us.invites.take(srv.now())
}

// refundRepeat gives back the invite takeInvite consumed for a request that res shows was a
// repeat (R7.3): it rang nobody, so it spends none of the user's invites.
func (srv *Server) refundRepeat(userID string, res switchboard.Result) {
	if !res.Repeated {
		return
	}
	if us := srv.userEntry(userID); us != nil {
		us.invites.giveBack()
	}
}

// userEntry returns the user's entry, nil when it has none.
func (srv *Server) userEntry(userID string) *userSessions {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.users[userID]
}
