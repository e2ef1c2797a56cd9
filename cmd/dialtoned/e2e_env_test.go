package main

import (
	"context"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/server"
)

// A DIALTONE_ variable that names no setting (DIALTONE_HEARTBEAT_TIMOUT) would leave the
// setting at its default without a word: the server logs a WARN naming it, and the setting it
// likely meant, at start, and starts all the same. The dialtone CLI's variables
// (DIALTONE_URL, DIALTONE_TOKEN) are not warned about.
func TestE2EUnknownEnvironmentVariableWarned(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs lockedBuffer
	environ := []string{"DIALTONE_HEARTBEAT_TIMOUT=60s", "DIALTONE_URL=ws://127.0.0.1:1/v1/ws", "DIALTONE_TOKEN=t",
		"DIALTONE_LISTEN=127.0.0.1:0", "PATH=/usr/bin"}
	args := []string{"--dev", "--data", t.TempDir()}
	started := false
	err := server.Run(ctx, args, environ, &lockedBuffer{}, &logs, func(string) { started = true; cancel() })
	if err != nil || !started {
		t.Fatalf("the server did not start and stop: %v\n%s", err, logs.String())
	}
	var warned []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "DIALTONE_") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "name=DIALTONE_HEARTBEAT_TIMOUT") ||
		!strings.Contains(warned[0], "DIALTONE_HEARTBEAT_TIMEOUT") {
		t.Errorf("warnings naming DIALTONE_ variables: %q, want one naming DIALTONE_HEARTBEAT_TIMOUT and DIALTONE_HEARTBEAT_TIMEOUT\n%s",
			warned, logs.String())
	}
}

// A misspelt variable that leaves a required setting unset (DIALTONE_SECRT for
// DIALTONE_SECRET) stops the server at start: the WARN naming it, and the setting it likely
// meant, is written all the same, before the refusal, so the operator learns why the setting
// seems missing.
func TestE2EUnknownEnvironmentVariableWarnedWhenStartIsRefused(t *testing.T) {
	var logs lockedBuffer
	environ := []string{"DIALTONE_SECRT=0123456789abcdef0123", "DIALTONE_LISTEN=127.0.0.1:0"}
	err := server.Run(t.Context(), []string{"--data", t.TempDir()}, environ, &lockedBuffer{}, &logs, func(string) {
		t.Error("the server started without a secret")
	})
	if err == nil || !strings.Contains(err.Error(), "--secret is required") {
		t.Fatalf("Run without a secret: %v, want the refusal of the missing --secret", err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "name=DIALTONE_SECRT") ||
		!strings.Contains(out, "didYouMean=DIALTONE_SECRET") {
		t.Errorf("log of the refused start: %q, want a WARN naming DIALTONE_SECRT and DIALTONE_SECRET", out)
	}
}
