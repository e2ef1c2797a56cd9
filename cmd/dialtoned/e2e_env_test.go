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
