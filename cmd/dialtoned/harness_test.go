package main

import (
	"os"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/internal/servertest"
)

// testSecret signs the tokens of the end-to-end tests.
const testSecret = servertest.Secret

// testServer is the real server (servertest) plus the end-to-end tests' barrier device.
type testServer struct {
	*servertest.Server
	barrierMu     sync.Mutex
	barrierDevice *device
}

func startServer(t *testing.T, extra ...string) *testServer {
	t.Helper()
	return &testServer{Server: servertest.Start(t, extra...)}
}

func startServerOn(t *testing.T, dataDir string, extra ...string) *testServer {
	t.Helper()
	return &testServer{Server: servertest.StartOn(t, dataDir, extra...)}
}

func token(t *testing.T, user string) string { return servertest.Token(t, user) }

// soak returns n, or ten times n when DIALTONE_SOAK is set: the heavy tests' longer runs.
func soak(n int) int {
	if os.Getenv("DIALTONE_SOAK") != "" {
		return 10 * n
	}
	return n
}
