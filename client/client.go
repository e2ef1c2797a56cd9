package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/dialtone/dialtone/protocol"
)

// Client is a connection to a Dialtone server for one device of one user. It is safe for use by
// several goroutines, including from inside its EventHandler.
//
// A Client logs in once; afterwards it keeps the session alive on its own: heartbeats, receipt
// acknowledgements, and reconnection with resume after a dropped connection, until Close,
// Logout, or a kick or login refusal that forbids reconnecting. Done tells when that happened.
type Client struct {
	url  *url.URL
	opts Options
	disp *dispatcher
	wg   sync.WaitGroup // every goroutine the client started, except the dispatcher

	life   context.Context // cancelled when the client is finished
	finish context.CancelCauseFunc

	clock clockEstimate // server clock − local clock

	loginSem chan struct{} // holds a token while a Login or a Logout runs: they run one at a time

	mu         sync.Mutex
	pre        *conn         // the connection a first Login uses (dialed by Dial or Login), until it succeeds
	cur        *conn         // the logged-in connection; nil while reconnecting
	ready      chan struct{} // closed when cur is set; replaced when cur dies
	loggedIn   bool
	loggingIn  bool // the first Login is waiting for its reply
	loggingOut bool
	token      string
	deviceID   string
	state      ConnectionState
	receipts   map[string]int // callID → automatic callReceived on their way (startReceipt)

	seqs seqTracker
}

// Dial opens a WebSocket to a Dialtone server. rawURL is ws://host[:port] or wss://… (http and
// https are accepted too); when it has no path, the protocol's /v1/ws is used. Dial reports the
// state Connecting; call Login next. The returned client must be closed with Close (or ended by
// a Logout that returned nil).
// A ctx without deadline gets Options.RequestTimeout: a network that takes the connection and
// never answers its handshake fails the Dial then.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("dialtone: bad url: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = protocol.Path
	}
	opts = opts.withDefaults()
	c := &Client{url: u, opts: opts, loginSem: make(chan struct{}, 1), ready: make(chan struct{}), state: -1}
	c.life, c.finish = context.WithCancelCause(context.Background())
	c.seqs.store = opts.SeqStore
	c.seqs.log = opts.Logger
	c.disp = newDispatcher(opts.EventHandler, c.seqs.handled)
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cn, err := c.dial(ctx)
	if err != nil {
		c.disp.stop(func(EventHandler) {}, func() { c.finish(err) })
		return nil, err
	}
	c.pre = cn
	c.setState(Connecting, nil)
	return c, nil
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	return dialConn(ctx, c.url, &c.opts, c.start, c.onEvent, c.onDead)
}

// start runs fn on a goroutine that Close waits for, and reports true; once the client is
// finished it runs nothing and reports false. sync.WaitGroup needs an Add made while its count
// is zero to happen before the Wait: start adds under the lock that finishing the client takes,
// so no goroutine can start after Close began to wait, however a Login races a Close.
func (c *Client) start(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Err() != nil {
		return false
	}
	c.wg.Go(fn)
	return true
}

// Login authenticates the device with token (a JWT minted for the user) and deviceID (stable
// across restarts of the application on this device). It resumes from the last processed seq
// of the device found in Options.SeqStore, if any. On success the state becomes Connected and
// the events that follow the login are delivered to the EventHandler; a Login that fails
// delivers none, not even those that follow a reply come as its ctx ended: the next Login gets
// them again (R7.2).
//
// A refused login returns the server's error (Code(err) is, for example, CodeAuthFailed, or
// CodeRateLimited when the server refused the connection itself; a *KickError when the server
// kicked the connection before the reply, as when it shuts down meanwhile) and may be retried
// on the same client: on the same connection after a malformed login (CodeInvalidParameter), which the
// server leaves open, otherwise on a new connection that Login dials. A client logs in
// successfully at most once (ErrAlreadyLoggedIn): a Login called while another runs waits for
// it, then fails with ErrAlreadyLoggedIn if that one succeeded and otherwise makes its own
// attempt. ctx bounds the whole Login, that wait included; a ctx without deadline gets
// Options.RequestTimeout.
func (c *Client) Login(ctx context.Context, token, deviceID string) (LoginResult, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	// Close cuts every step short: the wait for another Login, the dial, the SeqStore's Load,
	// the wait for the reply.
	stop := context.AfterFunc(c.life, cancel)
	defer stop()
	select {
	case c.loginSem <- struct{}{}:
		defer func() { <-c.loginSem }()
	case <-ctx.Done():
		if err := c.Err(); err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, ctx.Err()
	}
	c.mu.Lock()
	cn, loggedIn := c.pre, c.loggedIn
	c.mu.Unlock()
	if err := c.Err(); err != nil {
		return LoginResult{}, err
	}
	if loggedIn {
		return LoginResult{}, ErrAlreadyLoggedIn
	}
	if cn != nil && cn.kicked() {
		// Ended by its kick (docs/behaviour.md §12, "A kick whose close is lost"): the server no
		// longer reads it, and its reader is closing it.
		cn = nil
	}
	if cn == nil || cn.isDead() {
		var err error
		if cn, err = c.dial(ctx); err != nil {
			if cerr := c.Err(); cerr != nil {
				return LoginResult{}, cerr // closed meanwhile, which cut the dial short
			}
			return LoginResult{}, err
		}
		// In c.pre, Close closes it, and with it the login waiting on it.
		c.mu.Lock()
		c.pre = cn
		closed := c.life.Err() != nil
		c.mu.Unlock()
		if closed {
			cn.close(ErrClosed)
			return LoginResult{}, c.Err()
		}
	}
	c.seqs.load(ctx, SeqKey{UserID: tokenSubject(token), DeviceID: deviceID})
	c.setLoggingIn(true)
	lr, err := c.login(ctx, cn, token, deviceID)
	if err != nil {
		c.setLoggingIn(false)
		c.keepForRetry(cn, err)
		if cerr := c.Err(); cerr != nil {
			return LoginResult{}, cerr // closed meanwhile, which cut the login short
		}
		return LoginResult{}, err
	}
	c.mu.Lock()
	c.loggedIn, c.loggingIn, c.token, c.deviceID = true, false, token, deviceID
	c.pre = nil
	c.mu.Unlock()
	if !c.install(cn, lr) {
		if err := c.Err(); err != nil {
			return LoginResult{}, err
		}
		// The connection dropped right after the reply: the supervisor reconnects.
	}
	c.start(func() { c.supervise(cn) }) // a client closed meanwhile needs no reconnections
	return lr, nil
}

// setLoggingIn marks a first login as in flight, during which operations (such as the
// acknowledgement of an invitation that follows the login reply) wait for it rather than fail
// with ErrNotLoggedIn. Clearing it wakes them.
func (c *Client) setLoggingIn(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loggingIn = on
	if !on {
		close(c.ready)
		c.ready = make(chan struct{})
	}
}

// keepForRetry keeps a connection whose login was refused for another Login, as the server
// does for a malformed login, while the client runs; otherwise it closes it.
func (c *Client) keepForRetry(cn *conn, err error) {
	var pe *protocol.Error
	keep := errors.As(err, &pe) && pe.Code == protocol.CodeInvalidParameter && !cn.isDead()
	c.mu.Lock()
	if !keep || c.life.Err() != nil {
		c.pre, keep = nil, false
	}
	c.mu.Unlock()
	if !keep {
		cn.close(err)
	}
}

// login sends the login op on cn with the device's last processed seq. A successful reply
// takes effect on cn's reader goroutine, before any event that follows it: the connection's
// events reach the handler from then on (onEvent), and not when the reply comes after ctx
// ended (login fails then, though the server logged the device in); the seq bookkeeping,
// the server clock offset (so that a handler ringing a replayed or synthesized invitation
// already corrects its deadline by the new session's offset) and the Connected state, which
// the handler thus gets before those events.
func (c *Client) login(ctx context.Context, cn *conn, token, deviceID string) (LoginResult, error) {
	data, err := json.Marshal(protocol.LoginData{Token: token, DeviceID: deviceID, LastSeq: c.seqs.resumeFrom()})
	if err == nil {
		err = checkFrameSize(protocol.OpLogin, data, "")
	}
	if err != nil {
		return LoginResult{}, err
	}
	var lr LoginResult
	var decodeErr error
	sent := mono()
	f, err := cn.roundTrip(ctx, protocol.OpLogin, data, "", func(f protocol.Frame) {
		if f.Error != nil {
			return
		}
		if decodeErr = decodeResult(f, &lr); decodeErr != nil {
			return
		}
		if decodeErr = loginFieldsPresent(f.Result); decodeErr != nil {
			return
		}
		cn.loggedIn.Store(true)
		c.clock.record(lr.ServerTime, sent, mono(), true)
		var lost error
		discarded, moved := c.seqs.loggedIn(lr.HeadSeq, lr.CaughtUp)
		if discarded {
			lost = ErrEventsLost
		}
		if moved {
			head := lr.HeadSeq
			c.disp.push(delivery{call: func(EventHandler) { c.seqs.save(head) }}, nil)
		}
		c.setState(Connected, lost)
	})
	if errors.Is(err, errConnLost) {
		// The connection died before the reply: say why when the server told it, by refusing
		// the connection (conn.dispatch) or by kicking it (the kicked event or its close code).
		var refusal *protocol.Error
		var kick *KickError
		if reason := cn.reason(); errors.As(reason, &refusal) || errors.As(reason, &kick) {
			err = reason
		}
	}
	if err != nil {
		return LoginResult{}, fmt.Errorf("dialtone: login: %w", err)
	}
	if f.Error != nil {
		return LoginResult{}, fmt.Errorf("dialtone: login: %w", replyError(f.Error))
	}
	if decodeErr != nil {
		return LoginResult{}, fmt.Errorf("dialtone: login: %w", decodeErr)
	}
	return lr, nil
}

// loginFieldsPresent checks that a login result, which decodeResult decoded, gives every field
// of protocol.md "Login" but the heartbeat settings (which default to R6.1's): one absent or
// null would read as zero, a headSeq of 0 moving the device's position back and a userID of ""
// logging it in as nobody. Read once per login, so through encoding/json.
func loginFieldsPresent(result json.RawMessage) error {
	var present struct {
		UserID     *string `json:"userID"`
		DeviceID   *string `json:"deviceID"`
		HeadSeq    *int64  `json:"headSeq"`
		CaughtUp   *bool   `json:"caughtUp"`
		ServerTime *int64  `json:"serverTime"`
	}
	if err := json.Unmarshal(result, &present); err != nil {
		return fmt.Errorf("%w: the result is not of the op's shape: %w", ErrProtocol, err)
	}
	for _, field := range []struct {
		name  string
		given bool
	}{{"userID", present.UserID != nil}, {"deviceID", present.DeviceID != nil}, {"headSeq", present.HeadSeq != nil},
		{"caughtUp", present.CaughtUp != nil}, {"serverTime", present.ServerTime != nil}} {
		if !field.given {
			return fmt.Errorf("%w: the result gives no %s", ErrProtocol, field.name)
		}
	}
	return nil
}

// install makes cn, just logged in, the current connection and starts its heartbeat. It
// reports false, and closes cn, when cn died or the client finished meanwhile. The connection
// cn replaces may still be current: it is dead (the supervisor reconnects only then), but its
// reader may not have run onDead yet, and ready, closed while it was current, is renewed.
func (c *Client) install(cn *conn, lr LoginResult) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.isDead() || c.life.Err() != nil {
		cn.close(errConnLost)
		return false
	}
	if c.cur != nil {
		c.ready = make(chan struct{})
	}
	c.cur = cn
	close(c.ready)
	every, timeout := heartbeatSettings(lr)
	c.wg.Go(func() { c.heartbeat(cn, every, timeout) })
	return true
}

// onDead runs on a connection's reader goroutine when it dies: requests waiting for a
// connection now wait for the next one.
func (c *Client) onDead(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == cn {
		c.cur = nil
		c.ready = make(chan struct{})
	}
}

// Close ends the session without logging out: the device stays known to the server until its
// heartbeat timeout (behaviour R6.1), so a new client for the same device soon after resumes
// without being seen as lost. Pending operations fail with ErrClosed, operations called later
// fail with it at once, and the handler receives a last OnConnectionStateChanged(Disconnected,
// ErrClosed). Events received but not yet handed to the handler, synthesized invitations
// included, are dropped: the last seq processed (Options.SeqStore) stays the last one handled,
// so a new client of the device gets the logged ones, each once, and the invitations that still
// ring. Close waits for the server's answer to the close at most a second (a server that
// stopped reading, or a network gone without a word, does not hold it longer). It always
// returns nil, and may be called any number of times, from any goroutine.
//
// Close returns only once every goroutine of the client has ended, the handler's included:
// the handler method running when Close is called returns first, and the remaining state
// changes and the last Disconnected are handled before Close returns. From then on no handler
// method runs and none is called again, so the application may free what its handler uses. A
// handler that blocks makes Close wait as long, so it must not wait for anything that waits for
// Close to return. Called from inside a handler method, Close cannot wait for that method: it
// returns once the rest of the client has stopped, and after the method returns the handler
// still gets the state changes queued before Close and the last Disconnected, but no call
// event. A Close that is called at the same time from another goroutine waits for all of it.
func (c *Client) Close() error {
	c.closeAndWait(ErrClosed)
	return nil
}

// closeAndWait finishes the client with reason (shutdown) and waits for its goroutines and for
// the handler's dispatcher, except when called from inside the handler (dispatcher.awaitEnd).
func (c *Client) closeAndWait(reason error) {
	c.shutdown(reason)
	c.wg.Wait()
	c.disp.awaitEnd()
}

// Logout logs the device out (behaviour R6.1: the device is lost at once, so its calls are
// left as R4.3 and R6.4 say, and its push targets are dropped) and, once it is, closes the
// client for good. It returns nil once the server logged the device out: its reply, or its
// logout kick when the reply was lost. It waits for a connection when the client is
// reconnecting, and, like every operation, is sent again after a reconnection when its
// connection drops before the reply (a reply lost after the server's logout kick needs no
// second logout).
//
// A Logout that returns an error leaves the client as it was, running, so that the application
// can call Logout again or Close it (docs/behaviour.md §12, "A Go Logout that fails"): after the
// server's refusal (6000270 when it cannot write, for one; it then changed nothing, and the
// connection stays logged in), after its ctx ended (the logout may or may not have been
// carried out; the client goes on reconnecting), and before any successful Login
// (ErrNotLoggedIn). The client ends meanwhile only as it would without the Logout: by Close, or
// by a kick or login refusal that forbids reconnecting, whose reason Logout then returns.
//
// Logout and Login run one at a time: a Logout called while a Login runs waits for it, and a
// Logout called while another runs waits for that one, then returns ErrLoggedOut if it logged
// the device out, and otherwise makes its own attempt. ctx bounds the whole Logout, those
// waits included.
//
// Close racing Logout: a Close made before the server's answer cuts Logout short, as it does
// every pending operation, and Logout returns ErrClosed: the logout may or may not have been
// carried out (a device not logged out is lost at its heartbeat timeout, R6.1). A Logout called
// after Close returns ErrClosed at once and sends nothing; a Close called after Logout returned
// nil changes nothing. The client's end reason (Err, and the last Disconnected) is that of the
// first of the two to end it: ErrLoggedOut, or ErrClosed when Close came first. A Logout that
// logged the device out waits for the client's goroutines and its handler as Close does, with
// the same exception when called from inside a handler method.
func (c *Client) Logout(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	select {
	case c.loginSem <- struct{}{}:
		defer func() { <-c.loginSem }()
	case <-ctx.Done():
		return ctx.Err()
	case <-c.life.Done():
		return c.Err()
	}
	err := c.logout(ctx)
	if err == nil {
		c.closeAndWait(ErrLoggedOut)
	}
	// Only now: a logout kick coming before the client ended must still end it with ErrLoggedOut.
	c.setLoggingOut(false)
	return err
}

// logout sends the logout op until the server answers it, on the logged-in connection or, when
// it drops before the reply, the next one, and returns nil once the device is logged out.
// While it runs, the server's logout kick tells the supervisor that the logout was carried
// out (mayReconnect).
func (c *Client) logout(ctx context.Context) error {
	for {
		cn, err := c.connection(ctx)
		if err != nil {
			return err
		}
		c.setLoggingOut(true)
		f, err := cn.roundTrip(ctx, protocol.OpLogout, nil, "", nil)
		if errors.Is(err, errConnLost) {
			if isLogoutKick(cn.reason()) {
				return nil // carried out; its reply was lost with the connection
			}
			continue // connection() waits for the reconnection
		}
		if err != nil {
			return fmt.Errorf("dialtone: logout: %w", err)
		}
		if f.Error != nil {
			return fmt.Errorf("dialtone: logout: %w", replyError(f.Error))
		}
		return nil
	}
}

// setLoggingOut marks a logout as waiting for the server's answer, or no longer.
func (c *Client) setLoggingOut(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loggingOut = on
}

// isLogoutKick reports whether err is the server's logout kick: the device was logged out.
func isLogoutKick(err error) bool {
	var kick *KickError
	return errors.As(err, &kick) && kick.Reason == protocol.KickLogout
}

// Done returns a channel closed when the client is finished: after Close, Logout, or a kick or
// login refusal that forbids reconnecting. Err then tells why. Once it is closed, the handler
// is called for no further call event: only for the kicks and state changes queued before,
// and the last Disconnected.
func (c *Client) Done() <-chan struct{} {
	return c.life.Done()
}

// Err returns nil while the client is running, and afterwards the reason it finished
// (ErrClosed, ErrLoggedOut, a *KickError, or a refused login's error).
func (c *Client) Err() error {
	if c.life.Err() == nil {
		return nil
	}
	return context.Cause(c.life)
}

// shutdown finishes the client with reason: no more reconnection, every connection closed, the
// call events not yet handled dropped (dispatcher.stop) and a final Disconnected state queued
// behind the kicks and state changes already received.
func (c *Client) shutdown(reason error) {
	c.mu.Lock()
	if c.life.Err() != nil {
		c.mu.Unlock()
		return
	}
	// The events not yet handed to the handler are dropped before Done is closed, so a handler
	// method that returns once Done is closed is followed by no call event; the client is
	// finished before the handler's next call, so the last Disconnected sees Err set.
	c.disp.stop(func(h EventHandler) { h.OnConnectionStateChanged(Disconnected, reason) },
		func() { c.finish(reason) })
	pre, cur := c.pre, c.cur
	c.state = Disconnected
	c.mu.Unlock()
	if pre != nil {
		pre.close(reason) // not logged in: nothing to say goodbye to, and its peer may not be reading
	}
	if cur != nil {
		cur.closeGracefully(reason)
	}
}

func (c *Client) setState(s ConnectionState, reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStateLocked(s, reason)
}

func (c *Client) setStateLocked(s ConnectionState, reason error) {
	if c.state == s && s != Reconnecting || c.life.Err() != nil {
		return
	}
	c.state = s
	c.disp.push(delivery{call: func(h EventHandler) { h.OnConnectionStateChanged(s, reason) }}, nil)
}

// State returns the current connection state.
func (c *Client) State() ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}
