package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// describe adds the meaning of an error's code, unless the server's message already says it.
func TestDescribeAddsTheCodesMeaningOnce(t *testing.T) {
	for _, tt := range []struct {
		message, want string
	}{
		{"authentication failed", "login: dialtone error 6000291: authentication failed"},
		{"token expired", "login: dialtone error 6000291: token expired (authentication failed)"},
	} {
		err := fmt.Errorf("login: %w", &protocol.Error{Code: protocol.CodeAuthFailed, Message: tt.message})
		if got := describe(err).Error(); got != tt.want {
			t.Errorf("describe(%q) = %q, want %q", err, got, tt.want)
		}
	}
}

// A --url whose server accepts connections and never answers (another service, a stopped
// process) fails the client's and the watch's connect and login after --login-timeout
// instead of holding them forever.
func TestClientAndWatchLoginsAreBounded(t *testing.T) {
	u := silentServer(t)
	for _, cmd := range []string{"client", "watch"} {
		_, _, err := runOnce(t, cmd, "--url", u, "--user", "alice", "--secret", "test-secret-0123456789", "--login-timeout", "300ms")
		if err == nil || !strings.Contains(err.Error(), "--login-timeout") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err %v, want a refusal naming --login-timeout", cmd, err)
		}
	}
}

// slowTerminal is an output that takes a while to write each line, as a slow terminal or a
// full pipe does.
type slowTerminal struct{ *output }

func (s slowTerminal) Write(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	return s.output.Write(p)
}

// A session the server ends prints its kick and its end before the program returns, however
// slowly the output is written; the program returned, and exited, before they were printed.
func TestSessionEndIsPrintedBeforeTheProgramReturns(t *testing.T) {
	srv := servertest.Start(t)
	slow := func(o *output) io.Writer { return slowTerminal{o} }
	for cmd, loggedIn := range map[string]string{"client": `logged in as alice`, "watch": `"state":"Connected"`} {
		c := startCLIWriting(t, slow, cmd, "--url", srv.URL, "--user", "alice", "--device", "d-"+cmd,
			"--secret", servertest.Secret)
		c.waitFor(loggedIn)
		other, err := client.Dial(context.Background(), srv.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.Login(context.Background(), servertest.Token(t, "alice"), "d-"+cmd); err != nil {
			t.Fatal(err)
		}
		if err := c.wait(); err == nil || !strings.Contains(err.Error(), "replaced") {
			t.Fatalf("%s: err %v, want the replacement", cmd, err)
		}
		if text := c.out.String(); !strings.Contains(text, "replaced") || !strings.Contains(text, "Disconnected") {
			t.Errorf("%s: the kick and the end were not printed when it returned:\n%s", cmd, text)
		}
	}
}

// A command's request the server did not answer in time is named as such, not only as the
// context's "deadline exceeded"; a coded error keeps its meaning.
func TestDescribeRequestNamesAnUnansweredRequest(t *testing.T) {
	coded := fmt.Errorf("login: %w", &protocol.Error{Code: protocol.CodeAuthFailed, Message: "token expired"})
	if got, want := describeRequest(coded).Error(), describe(coded).Error(); got != want {
		t.Errorf("describeRequest(%q) = %q, want %q", coded, got, want)
	}
	err := fmt.Errorf("queryCall: %w", context.DeadlineExceeded)
	got := describeRequest(err)
	if !errors.Is(got, context.DeadlineExceeded) || !strings.Contains(got.Error(), "no answer from the server within 15s") {
		t.Errorf("describe(%q) = %q, want the unanswered request named", err, got)
	}
}

// client and watch refuse a --url that names no server endpoint, naming the flag, as bench
// does, rather than passing on what the WebSocket library says of it.
func TestClientAndWatchRefuseABadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:3425", "ftp://127.0.0.1/v1/ws", "ws:///v1/ws", "ws://%zz"} {
		for _, cmd := range []string{"client", "watch"} {
			_, _, err := runOnce(t, cmd, "--url", u, "--user", "alice", "--secret", "test-secret-0123456789", "--login-timeout", "1s")
			if err == nil || !strings.Contains(err.Error(), "--url") {
				t.Errorf("%s --url %q: err %v, want a refusal naming --url", cmd, u, err)
			}
		}
	}
}

// A login refused for a token of the wrong secret says what to check: the refusal says only
// "authentication failed" (behaviour §8 keeps the reason from the client).
func TestWrongSecretIsHinted(t *testing.T) {
	srv := servertest.Start(t)
	wrong, err := auth.Mint([]byte("wrong-secret-0123456789"), "alice", time.Hour, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"client", "watch"} {
		for _, cred := range [][]string{{"--secret", "wrong-secret-0123456789"}, {"--token", wrong}} {
			_, _, err := runOnce(t, append([]string{cmd, "--url", srv.URL, "--user", "alice"}, cred...)...)
			if client.Code(err) != client.CodeAuthFailed || !strings.Contains(err.Error(), "the server's --secret") {
				t.Errorf("%s %s: err %v, want code %d and what to check", cmd, cred[0], err, client.CodeAuthFailed)
			}
		}
	}
}
