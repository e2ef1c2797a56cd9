package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/dialtone/dialtone/client"
)

// ringer is an application's event handler: it embeds BaseHandler and overrides only what it
// needs.
type ringer struct {
	client.BaseHandler
	c *client.Client
}

func (r *ringer) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	left := r.c.RemainingRingTime(ev.Deadline)
	if left == 0 {
		return // a late or replayed invitation: show it as missed, do not ring
	}
	fmt.Printf("%s is calling (%s left)\n", ev.Inviter, left.Round(time.Second))
	// Calling back into the client from a handler is allowed.
	if _, err := r.c.CallAccept(context.Background(), ev.CallID, client.OpConfig{}); err != nil {
		log.Print(err)
	}
}

func (r *ringer) OnConnectionStateChanged(s client.ConnectionState, reason error) {
	fmt.Println("connection:", s, reason)
}

func ExampleDial() {
	serverURL, stop := exampleServer() // wss://dialtone.example.com in an application
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := &ringer{}
	c, err := client.Dial(ctx, serverURL, client.Options{
		EventHandler: h,
		Logger:       slog.Default(),
		SeqStore:     &client.MemorySeqStore{}, // use a persistent store in an application
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	h.c = c
	res, err := c.Login(ctx, tokenFor("alice"), "alice-phone") // a token from your backend
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as", res.UserID)
	// The handler runs on a goroutine of its own: its lines interleave with the others.

	// Unordered output:
	// connection: Connecting <nil>
	// connection: Connected <nil>
	// logged in as alice
	// connection: Disconnected dialtone: client closed
}

func ExampleClient_CallInvite() {
	serverURL, stop := exampleServer()
	defer stop()
	c := loggedIn(serverURL, "alice", "alice-phone", nil) // from Dial and Login
	defer c.Close()
	ctx := context.Background()
	res, err := c.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{
		Timeout:      30,
		Mode:         client.ModeAdvanced,
		ExtendedData: `{"video":true}`,
		PushConfig:   &client.PushConfig{Title: "Alice", Content: "Incoming call"},
	})
	switch client.Code(err) {
	case 0:
	case client.CodeBusy:
		fmt.Println("you are already in a call")
		return
	default:
		log.Fatal(err)
	}
	for _, u := range res.ErrorUserList {
		fmt.Println("not invited:", u.UserID, u.Reason)
	}
	fmt.Println("ringing", len(res.CallInfo.CallUserList)-1, "users for", res.Timeout, "seconds")
	// Output:
	// ringing 2 users for 30 seconds
}

func ExampleCode() {
	serverURL, stop := exampleServer()
	defer stop()
	c := loggedIn(serverURL, "alice", "alice-phone", nil) // from Dial and Login
	defer c.Close()
	_, err := c.CallAccept(context.Background(), "c9…", client.OpConfig{})
	var kick *client.KickError
	switch {
	case err == nil:
		fmt.Println("accepted")
	case client.Code(err) == client.CodeCallUnavailable:
		fmt.Println("the invitation timed out or the call ended")
	case errors.As(err, &kick):
		fmt.Println("signed out by the server:", kick.Reason)
	default:
		log.Print(err)
	}
	// Output:
	// the invitation timed out or the call ended
}

func ExampleClient_QueryCallInvitationList() {
	serverURL, stop := exampleServer()
	defer stop()
	c := loggedIn(serverURL, "alice", "alice-phone", nil) // from Dial and Login
	defer c.Close()
	ctx := context.Background()
	for _, caller := range []string{"bob", "carol"} {
		other := loggedIn(serverURL, caller, caller+"-phone", nil)
		if _, err := other.CallInvite(ctx, []string{"alice"}, client.InviteConfig{}); err != nil {
			log.Fatal(err)
		}
		other.Close()
	}
	var flag int64
	for {
		page, err := c.QueryCallInvitationList(ctx, 50, flag)
		if err != nil {
			log.Fatal(err)
		}
		for _, call := range page.CallList {
			fmt.Println("a call from", call.Caller, "started:", call.State == client.CallStarted)
		}
		if flag = page.NextFlag; flag == 0 {
			break
		}
	}
	// Output:
	// a call from carol started: true
	// a call from bob started: true
}

func ExampleOptions_tokenSource() {
	refresh := func(ctx context.Context) (string, error) {
		return "a fresh token from your backend", nil
	}
	_ = client.Options{
		TokenSource:    refresh, // each reconnection logs in with a fresh token
		MinBackoff:     500 * time.Millisecond,
		MaxBackoff:     time.Minute,
		RequestTimeout: 20 * time.Second,
	}
}

func ExampleWithIdempotencyKey() {
	serverURL, stop := exampleServer()
	defer stop()
	c := loggedIn(serverURL, "alice", "alice-phone", nil) // from Dial and Login
	defer c.Close()
	bob := loggedIn(serverURL, "bob", "bob-phone", nil)
	defer bob.Close()
	call, err := bob.CallInvite(context.Background(), []string{"alice"}, client.InviteConfig{})
	if err != nil {
		log.Fatal(err)
	}
	// Every attempt of this one answer carries the same key: an attempt whose reply never came
	// may still have been carried out, and the next then gets its reply instead of 6000274.
	ctx := client.WithIdempotencyKey(context.Background(), client.NewIdempotencyKey())
	for attempt := 1; attempt <= 3; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.CallAccept(attemptCtx, call.CallID, client.OpConfig{})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			fmt.Println("answered:", err == nil)
			break
		}
	}
	// An attempt under the same key after one carried out gets its reply again.
	_, err = c.CallAccept(ctx, call.CallID, client.OpConfig{})
	fmt.Println("answered again:", err == nil)
	// Output:
	// answered: true
	// answered again: true
}

func ExampleClient_Logout() {
	serverURL, stop := exampleServer()
	defer stop()
	c := loggedIn(serverURL, "alice", "alice-phone", nil) // from Dial and Login
	// A user signing out. nil tells that the server logged the device out, so the device gets
	// no more invitations or pushes, and the client has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch err := c.Logout(ctx); {
	case err == nil:
		fmt.Println("signed out")
	case errors.Is(err, client.ErrClosed):
		// Close (an application shutting down, say) came first: the logout may not have reached
		// the server, which forgets the device at its heartbeat timeout.
		fmt.Println("closed before the server answered")
	default:
		// Not answered in time, or refused: the device may still be known, and the client still
		// runs, so Logout may be called again (when the network is back, say), or Close.
		log.Print(err)
		c.Close()
	}
	// Output:
	// signed out
}
