package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

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
		_, _, err := runOnce(t, cmd, "--url", u, "--user", "alice", "--secret", "s", "--login-timeout", "300ms")
		if err == nil || !strings.Contains(err.Error(), "--login-timeout") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err %v, want a refusal naming --login-timeout", cmd, err)
		}
	}
}
