package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

// supervise watches the logged-in connection and replaces it when it dies, until the client is
// finished. It is the only goroutine that reconnects. The backoff's attempt count carries over
// from one reconnection to the next unless the session between them lasted MaxBackoff.
func (c *Client) supervise(cn *conn) {
	attempt := 0
	loggedIn := time.Now()
	for {
		select {
		case <-cn.done:
		case <-c.life.Done():
			return
		}
		reason := cn.reason()
		if !c.mayReconnect(reason) {
			return
		}
		c.setState(Reconnecting, reason)
		c.opts.Logger.Info("dialtone: connection lost; reconnecting", "reason", reason)
		if time.Since(loggedIn) >= c.opts.MaxBackoff {
			attempt = 0
		}
		if cn, attempt = c.reconnect(attempt); cn == nil {
			return
		}
		loggedIn = time.Now()
	}
}

// mayReconnect decides, for a connection that died with reason, whether to reconnect; when not,
// it finishes the client. A connection that drops while Logout waits for its reply is
// replaced, so that Logout can send it again, unless the server's logout kick says it was
// carried out.
func (c *Client) mayReconnect(reason error) bool {
	c.mu.Lock()
	loggingOut := c.loggingOut
	c.mu.Unlock()
	var kick *KickError
	switch {
	case c.life.Err() != nil:
		return false
	case loggingOut && isLogoutKick(reason):
		c.shutdown(ErrLoggedOut)
		return false
	case errors.As(reason, &kick) && !kick.Retry:
		c.shutdown(reason)
		return false
	}
	return true
}

// reconnect dials and logs in again, with backoff from attempt on, until it succeeds
// (returning the new connection and the next attempt's number) or the client is finished
// (returning nil). A login refusal that cannot succeed by retrying (authentication failed,
// too many devices) finishes the client, and so does a kick without retry that follows a
// refusal (replaced: a newer connection of the device logged in), heard during the backoff
// (sleep: the connection ends at its kicked event or its close, whichever comes first) or
// just as the next attempt begins (giveUp).
func (c *Client) reconnect(attempt int) (*conn, int) {
	var refused *conn // the last attempt's connection, kept open to hear its kick
	defer func() {
		if refused != nil {
			refused.close(errConnLost)
		}
	}()
	for ; ; attempt++ {
		if !c.sleep(backoff(c.opts.MinBackoff, c.opts.MaxBackoff, attempt), refused) {
			return nil, attempt
		}
		if refused != nil && !c.giveUp(refused) {
			return nil, attempt
		}
		cn, err := c.relogin()
		if err == nil {
			return cn, attempt + 1
		}
		refused = cn
		if final(err) {
			c.shutdown(err)
			return nil, attempt
		}
		c.opts.Logger.Info("dialtone: reconnection failed", "attempt", attempt+1, "err", err)
	}
}

// relogin performs one reconnection attempt. On failure, it returns the attempt's connection
// when the server refused the login on it and left it open: the server kicks after some
// refusals (protocol "Login"), and the kick may still be on its way; otherwise nil.
func (c *Client) relogin() (*conn, error) {
	ctx, cancel := context.WithTimeout(c.life, c.opts.RequestTimeout)
	defer cancel()
	token, err := c.freshToken(ctx)
	if err != nil {
		return nil, err
	}
	cn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	deviceID := c.deviceID
	c.mu.Unlock()
	lr, err := c.login(ctx, cn, token, deviceID)
	if err != nil {
		if final(err) {
			cn.close(err)
			return nil, err // the server's refusal, which the kick that follows it only echoes
		}
		if reason := cn.reason(); final(reason) {
			cn.close(err)
			return nil, reason // kicked with retry false while logging in
		}
		if refusal := (*protocol.Error)(nil); errors.As(err, &refusal) && !cn.isDead() {
			return cn, err
		}
		cn.close(err)
		return nil, err
	}
	// Connected was reported with the reply: when cn died right after it, the supervisor
	// reports Reconnecting and reconnects.
	c.install(cn, lr)
	return cn, nil
}

// giveUp closes refused, the connection of a refused login kept open through the backoff, as
// the next attempt begins, and reports whether that attempt may go on. A kick without retry
// that the connection heard as the backoff ended (docs/behaviour.md §12, "A kick whose close
// is lost") finishes the client with that kick instead: giveUp then reports false.
func (c *Client) giveUp(refused *conn) bool {
	refused.close(errConnLost)
	if reason := refused.reason(); final(reason) {
		c.shutdown(reason)
		return false
	}
	return true
}

func (c *Client) freshToken(ctx context.Context) (string, error) {
	if c.opts.TokenSource == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.token, nil
	}
	return c.opts.TokenSource(ctx)
}

// final reports whether a reconnection that failed with err must not be retried.
func final(err error) bool {
	var kick *KickError
	if errors.As(err, &kick) {
		return !kick.Retry
	}
	switch Code(err) {
	case protocol.CodeAuthFailed, protocol.CodeTooManyDevices:
		return true
	}
	return false
}

// sleep waits d, and reports false when the client finished first. When refused, a
// connection whose login was refused (nil: none), dies meanwhile kicked with retry false, sleep
// finishes the client with that kick and reports false.
func (c *Client) sleep(d time.Duration, refused *conn) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var dead <-chan struct{}
	if refused != nil {
		dead = refused.done
	}
	for {
		select {
		case <-t.C:
			return true
		case <-c.life.Done():
			return false
		case <-dead:
			if reason := refused.reason(); final(reason) {
				c.shutdown(reason)
				return false
			}
			dead = nil
		}
	}
}

// backoff returns the wait before reconnection attempt n (from 0): a random duration in
// [b/2, b] where b = min·2ⁿ capped at max, so clients dropped together spread out.
func backoff(minD, maxD time.Duration, n int) time.Duration {
	b := maxD
	if n < 63 && minD <= maxD>>n { // so min·2ⁿ ≤ max, without overflow
		b = minD << n
	}
	return b/2 + rand.N(b/2+1)
}

// heartbeatSettings returns the heartbeat interval and silence timeout of a login result, with
// the protocol's defaults for missing values.
func heartbeatSettings(lr LoginResult) (every, timeout time.Duration) {
	every, timeout = defaultHeartbeatEvery, defaultHeartbeatTimeout
	if lr.HeartbeatIntervalMs > 0 {
		every = time.Duration(lr.HeartbeatIntervalMs) * time.Millisecond
	}
	if lr.HeartbeatTimeoutMs > 0 {
		timeout = time.Duration(lr.HeartbeatTimeoutMs) * time.Millisecond
	}
	return every, timeout
}

// heartbeat sends a heartbeat on cn every interval (behaviour R6.1), refreshing the server
// clock offset from the replies, and closes cn with ErrHeartbeatTimeout once nothing at all has
// arrived on it for timeout. It ends with cn.
func (c *Client) heartbeat(cn *conn, every, timeout time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	watchdog := time.NewTimer(timeout)
	defer watchdog.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-tick.C:
			c.sendHeartbeat(cn, every)
		case <-watchdog.C:
			silent := cn.silentFor()
			if silent >= timeout {
				c.opts.Logger.Warn("dialtone: connection silent; dropping it", "silentFor", silent)
				cn.close(ErrHeartbeatTimeout)
				return
			}
			watchdog.Reset(timeout - silent)
		}
	}
}

// sendHeartbeat sends one heartbeat on cn. A heartbeat that cannot be written within one
// interval (the server stopped reading) closes cn with a reason wrapping ErrHeartbeatTimeout:
// the next heartbeat is due, and a connection that takes nothing in is as dead as a silent one.
// One that waited an interval for another request's frame is skipped: that write has a
// context of its own, and the silence watchdog, which sendHeartbeat thus never holds up for
// longer than two intervals, drops a connection that answers nothing.
func (c *Client) sendHeartbeat(cn *conn, every time.Duration) {
	stalled := fmt.Errorf("dialtone: heartbeat not written within its interval (%v), the server is not reading: %w",
		every, ErrHeartbeatTimeout)
	sent := mono()
	_, err := cn.sendWithin(c.life, every, stalled, protocol.OpHeartbeat, nil, "", func(f protocol.Frame, bad error) {
		var hb protocol.HeartbeatResult
		if bad == nil && f.Error == nil && json.Unmarshal(f.Result, &hb) == nil {
			c.clock.record(hb.ServerTime, sent, mono(), false)
		}
	})
	switch {
	case errors.Is(err, ErrHeartbeatTimeout):
		c.opts.Logger.Warn("dialtone: heartbeat write stalled; dropping the connection", "interval", every)
	case err != nil && !errors.Is(err, errConnLost):
		c.opts.Logger.Debug("dialtone: heartbeat not sent", "err", err)
	}
}
