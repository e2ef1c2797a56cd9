package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// A reply whose result is not of the op's shape (protocol.md "Envelopes": an object, {} when
// the op has nothing to return), or not JSON at all, a reply with neither result nor error, or
// an error without a code (every error carries one of behaviour §8), is the request's one reply: the operation fails at once with ErrProtocol, naming the op,
// rather than waiting for another reply until its ctx ends, and is not sent again. The
// connection stays, and carries the next operation.
func TestReplyOfAnotherShapeFailsTheOperation(t *testing.T) {
	for _, tt := range []struct {
		name, op, reply string // reply: with %d for the request's id
		do              func(context.Context, *Client) error
	}{
		{"a string for an object", protocol.OpCallAccept, `{"id":%d,"result":"c1"}`, func(ctx context.Context, c *Client) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{})
			return err
		}},
		{"a list for an object", protocol.OpQueryCall, `{"id":%d,"result":[{"callID":"c1"}]}`, func(ctx context.Context, c *Client) error {
			_, err := c.QueryCall(ctx, "c1")
			return err
		}},
		{"not JSON", protocol.OpCallAccept, `{"id":%d,"result":{"callID":c1}}`, func(ctx context.Context, c *Client) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{})
			return err
		}},
		{"a string for {}", protocol.OpCallReceived, `{"id":%d,"result":"ok"}`, func(ctx context.Context, c *Client) error {
			return c.CallReceived(ctx, "c1")
		}},
		{"null", protocol.OpCallAccept, `{"id":%d,"result":null}`, func(ctx context.Context, c *Client) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{})
			return err
		}},
		{"neither result nor error", protocol.OpCallReceived, `{"id":%d}`, func(ctx context.Context, c *Client) error {
			return c.CallReceived(ctx, "c1")
		}},
		{"an error without a code", protocol.OpCallAccept, `{"id":%d,"error":{}}`, func(ctx context.Context, c *Client) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{})
			return err
		}},
		{"an error of code 0", protocol.OpQueryCall, `{"id":%d,"error":{"code":0,"message":"refused"}}`, func(ctx context.Context, c *Client) error {
			_, err := c.QueryCall(ctx, "c1")
			return err
		}},
		{"a logout's error without a code", protocol.OpLogout, `{"id":%d,"error":{}}`, func(ctx context.Context, c *Client) error {
			return c.Logout(ctx)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
				if req.Op != tt.op {
					return defaultRespond(fc, req)
				}
				fc.writeText(fmt.Appendf(nil, tt.reply, req.ID))
				return nil, nil, false
			})
			c, _ := connect(t, fs, Options{})
			recv(t, fs.logins, "login")
			err := tt.do(testCtx(t), c)
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.op) {
				t.Fatalf("%s answered with %s: %v, want ErrProtocol naming the op", tt.op, tt.reply, err)
			}
			nextOp(t, fs, tt.op)
			if _, err := c.CallJoin(testCtx(t), "c2", OpConfig{}); err != nil {
				t.Fatalf("the next operation: %v", err)
			}
			if req := recv(t, fs.requests, "the next request"); req.Op != protocol.OpCallJoin {
				t.Fatalf("%s sent after the failed %s, want only the next operation's callJoin", req.Op, tt.op)
			}
			assertNoReconnection(t, fs, c)
		})
	}
}

// A login reply whose result is not a login result, or not JSON, fails the Login at once with
// ErrProtocol: the device is not logged in, and Login may be called again.
func TestLoginReplyOfAnotherShapeFailsTheLogin(t *testing.T) {
	for _, result := range []string{`"alice"`, `{"userID":"alice","headSeq":"7"}`, `{"userID":alice}`, `null`} {
		t.Run(result, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.mu.Lock()
			fs.loginReply = result
			fs.mu.Unlock()
			c := loginFailsWithErrProtocol(t, fs, "login answered with the result "+result)
			fs.mu.Lock()
			fs.loginReply = ""
			fs.mu.Unlock()
			if _, err := c.Login(testCtx(t), "token", "dev1"); err != nil {
				t.Fatalf("Login again: %v", err)
			}
		})
	}
}

// A login refused with an error without a code (every error carries one of behaviour §8) fails
// the Login with ErrProtocol naming the login, not with Code 0: the device is not logged in,
// and Login may be called again.
func TestLoginErrorWithoutACodeFailsTheLogin(t *testing.T) {
	fs := newFakeServer(t)
	fs.setLoginErr(func(protocol.LoginData) *protocol.Error { return &protocol.Error{} })
	c := loginFailsWithErrProtocol(t, fs, "login refused without a code")
	fs.setLoginErr(nil)
	if _, err := c.Login(testCtx(t), "token", "dev1"); err != nil {
		t.Fatalf("Login again: %v", err)
	}
}

// loginFailsWithErrProtocol dials fs and checks that a Login fails with ErrProtocol naming the
// login (what tells the case); it returns the client, which the test's end closes.
func loginFailsWithErrProtocol(t *testing.T, fs *fakeServer, what string) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), fs.url(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(testCtx(t), "token", "dev1"); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), protocol.OpLogin) {
		t.Fatalf("%s: %v, want ErrProtocol naming the login", what, err)
	}
	return c
}

// A login result without a field protocol.md "Login" gives it, absent or null, fails the Login
// with ErrProtocol naming the login instead of reading a zero (a headSeq of 0 would move the
// device's position back, a userID "" log it in as nobody), as in the browser SDK; the heartbeat
// settings, which fall back to R6.1's defaults, may be left out.
func TestLoginResultWithoutAFieldFailsTheLogin(t *testing.T) {
	fields := []string{`"userID":"alice"`, `"deviceID":"dev1"`, `"headSeq":0`, `"caughtUp":true`, `"serverTime":1700000000000`}
	for i, field := range fields {
		name := field[1 : strings.Index(field[1:], `"`)+1]
		for _, variant := range []string{"absent", "null"} {
			t.Run(name+" "+variant, func(t *testing.T) {
				rest := slices.Delete(slices.Clone(fields), i, i+1)
				if variant == "null" {
					rest = append(rest, `"`+name+`":null`)
				}
				fs := newFakeServer(t)
				fs.mu.Lock()
				fs.loginReply = "{" + strings.Join(rest, ",") + "}"
				fs.mu.Unlock()
				loginFailsWithErrProtocol(t, fs, "login answered with the result "+fs.loginReply)
			})
		}
	}
	t.Run("without heartbeat settings", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.mu.Lock()
		fs.loginReply = "{" + strings.Join(fields, ",") + "}"
		fs.mu.Unlock()
		c, err := Dial(testCtx(t), fs.url(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Login(testCtx(t), "token", "dev1"); err != nil {
			t.Fatalf("login answered with %s: %v, want a login with R6.1's heartbeat defaults", fs.loginReply, err)
		}
	})
}
