package main

import (
	"fmt"
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
