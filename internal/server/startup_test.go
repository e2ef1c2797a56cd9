package server

import (
	"database/sql"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/sqlite"
)

// A data directory or listen address the server cannot use stops the start with an error
// that names the setting to fix (docs/operations.md "Start-up, probes and shutdown": a refused
// setting stops it with a message naming the flag), never with a message about the server's
// own insides alone.
func TestUnusableDataOrAddressNamesItsSetting(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tc := range map[string]struct {
		data   func(t *testing.T) string // an unusable data directory
		listen string
		want   string // the error's beginning; DATA stands for the data directory
	}{
		"database is a directory": {func(t *testing.T) string {
			data := t.TempDir()
			must(t, os.Mkdir(filepath.Join(data, "dialtone.db"), 0o700))
			return data
		}, "127.0.0.1:0", "--data DATA: "},
		"database is not a database": {func(t *testing.T) string {
			data := t.TempDir()
			must(t, os.WriteFile(filepath.Join(data, "dialtone.db"), []byte(strings.Repeat("not a database ", 20)), 0o600))
			return data
		}, "127.0.0.1:0", "--data DATA: "},
		"database names a call it lacks": {func(t *testing.T) string {
			data := t.TempDir()
			db, err := sql.Open("sqlite", filepath.Join(data, "dialtone.db"))
			must(t, err)
			defer db.Close()
			store, err := sqlite.Open(t.Context(), filepath.Join(data, "dialtone.db"), sqlite.Options{})
			must(t, err)
			must(t, store.Close())
			_, err = db.Exec(`INSERT INTO busy (user_id, call_id) VALUES ('alice', 'no-such-call')`)
			must(t, err)
			return data
		}, "127.0.0.1:0", "--data DATA: "},
		"data under a file": {func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			must(t, os.WriteFile(file, nil, 0o600))
			return filepath.Join(file, "data")
		}, "127.0.0.1:0", "--data: "},
		"port in use": {func(t *testing.T) string { return t.TempDir() }, busy.Addr().String(), "--listen: "},
	} {
		t.Run(name, func(t *testing.T) {
			data := tc.data(t)
			want := strings.ReplaceAll(tc.want, "DATA", data)
			err := Run(t.Context(), []string{"--secret", testSecret, "--listen", tc.listen, "--data", data}, nil,
				io.Discard, io.Discard, nil)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Run = %v, want an error beginning %q", err, want)
			}
		})
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A start that fails after it opened the store and started its webhook and push workers (here:
// its address is taken) ends what it started and closes what it opened before Run returns, as a drain does: an embedder or a test
// that runs the server again in the same process starts from nothing.
func TestFailedStartLeavesNothing(t *testing.T) {
	runAndUse(t, t.TempDir()) // what a first run sets up for good is not counted
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer busy.Close()
	before, files := serverGoroutines(), len(openFiles(t))
	dir := t.TempDir()
	err = Run(t.Context(), []string{"--secret", testSecret, "--listen", busy.Addr().String(), "--data", dir,
		"--log-level", "error", "--webhook-url", "http://127.0.0.1:1/hook", "--webhook-secret", "hook-secret",
		"--push-webhook-url", "http://127.0.0.1:1/push"}, nil, io.Discard, io.Discard, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "--listen: ") {
		t.Fatalf("Run = %v, want the --listen error", err)
	}
	if open := openFiles(t); len(open) > files {
		t.Errorf("after the failed start: %d files open (%d before): %v", len(open), files, open)
	}
	waitEnded(t, "after the failed start", before)
}
