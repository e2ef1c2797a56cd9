// Package client is the Go SDK of Dialtone, a self-hosted call-invitation signalling server.
//
// A Client is one device of one user: Dial connects, Login authenticates, and from then on the
// client keeps the session alive by itself until Close or Logout:
//
//   - it sends a heartbeat at the interval the server asked for, and treats a connection silent
//     for the server's heartbeat timeout, or one that cannot take a heartbeat for a whole
//     interval (the server stopped reading), as dropped, with a reason matching
//     ErrHeartbeatTimeout (behaviour R6.1);
//   - it acknowledges every invitation it receives with callReceived (R5.1), without waiting
//     for the application: the acknowledgement is sent alongside the handler's call, so an
//     answer the handler sends at once may reach the server first, and the caller then sees
//     the callee Accepted without Received before;
//   - a connection that hears a kick is closed at once, even when the server's close is lost
//     on the network;
//   - after a dropped connection, or a kick that allows it, it reconnects with exponential
//     backoff and jitter and logs in again with the seq of the last event handled, so missed
//     events are replayed (R7.2); replays of events already handed over are dropped, so each
//     logged event reaches the handler exactly once;
//   - an operation whose connection dropped before the reply is sent again after the
//     reconnection, with the same idempotency key when it changes state (R7.3); an application
//     that tries an operation again after its context ended without a reply passes one key to
//     every attempt with WithIdempotencyKey.
//
// Events reach the application through an EventHandler, one at a time and in order; embed
// BaseHandler to implement only what you need. The handler runs on a goroutine of its own: an
// operation returns as its reply arrives, when the events that arrived before the reply (a
// reply may come before or after the events its request caused) are queued for the handler but
// may not have been handled yet: code that runs after an operation returns must not assume that
// the handler has seen them (the call events carry the call's version to order them by). Close and Logout return only once the handler
// method running has returned and the last Disconnected was handled, so no handler method runs
// after them and the application may free what its handler uses; called from inside a handler
// method, they return without waiting for it (see Client.Close). Each event reaches the handler
// at most once and in order, however the client ends; the events not yet handed over when it
// ends are dropped, and a new client of the device gets them (R7.2). Logout returns nil only
// once the server logged the device out, and ends the client then; a Logout that fails leaves
// the client running, for the application to repeat it or Close it; a Close racing it cuts it
// short with ErrClosed, as it does every pending operation, and the client's end reason is
// that of the first of the two (see Client.Logout). A handler method that panics
// ends the program, as a panic on any goroutine does. Operations return the server's refusals as
// errors whose wire code Code extracts; a request over the protocol's 64 KiB frame is refused
// the same way (CodeInvalidParameter) by the client, without sending it; a reply the client
// cannot read (its result not JSON, or not of the op's shape, or an error without a code) fails
// the operation at once with an error wrapping ErrProtocol, and the connection stays. An operation's ctx
// bounds its whole wait, resends included; a ctx that ends while the request's frame is being
// written (a connection congested for that long) ends the connection, since a frame cut short
// cannot be finished, and the client reconnects and sends the other requests in flight again;
// the Reconnecting state's reason then names the operation and wraps its ctx's error.
//
// Usage:
//
//	type ringer struct{ client.BaseHandler }
//
//	func (ringer) OnCallInvitationReceived(ev client.CallInvitationReceived) {
//		fmt.Println("incoming call from", ev.Inviter)
//	}
//
//	c, err := client.Dial(ctx, "wss://dialtone.example.com", client.Options{EventHandler: ringer{}})
//	if err != nil { … }
//	defer c.Close()
//	if _, err := c.Login(ctx, token, "alice-phone"); err != nil { … }
//	res, err := c.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30})
//	if client.Code(err) == client.CodeBusy { … }
//
// The package never imports the server's internals; its wire types are those of package
// protocol, re-exported here as aliases.
package client
