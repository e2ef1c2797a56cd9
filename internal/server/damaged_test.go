package server

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/sqlite"
)

// populatedDatabase returns a data directory whose dialtone.db is a database of this build,
// closed, with its WAL checkpointed away, and many pages long: rows of users fill pages past
// the first ones, where a damage in the middle of the file lands.
func populatedDatabase(t *testing.T) (dir, db string) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, "dialtone.db")
	store, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	must(t, err)
	must(t, store.Close())
	raw, err := sql.Open("sqlite", db)
	must(t, err)
	_, err = raw.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000)
		INSERT INTO users (user_id, head_seq) SELECT printf('user-%06d-%s', i, hex(randomblob(16))), i FROM n`)
	must(t, err)
	_, err = raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	must(t, err)
	must(t, raw.Close())
	return dir, db
}

// otherApplication returns a data directory whose dialtone.db is another program's SQLite
// database, in the default rollback-journal mode, with the given user_version.
func otherApplication(t *testing.T, userVersion string) (dir, db string) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, "dialtone.db")
	raw, err := sql.Open("sqlite", db)
	must(t, err)
	_, err = raw.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me');
		PRAGMA user_version = ` + userVersion)
	must(t, err)
	must(t, raw.Close())
	return dir, db
}

// A data directory whose database is damaged, or is not this server's, stops the start with
// an error that names --data and says what is wrong, and the start leaves the file as it found
// it: not one byte written, not even a header field, so the operator can still copy it away,
// repair it or give it back to its program (docs/operations.md "Start-up, probes and
// shutdown"; R7.1: what was committed is never overwritten by a start).
func TestDamagedOrForeignDatabaseStopsTheStartAndIsLeftAsItWas(t *testing.T) {
	for name, tc := range map[string]struct {
		data func(t *testing.T) (dir, db string)
		want string // what the error says after "--data DIR: "
	}{
		"garbage in the middle": {func(t *testing.T) (string, string) {
			dir, db := populatedDatabase(t)
			f, err := os.OpenFile(db, os.O_RDWR, 0)
			must(t, err)
			info, err := f.Stat()
			must(t, err)
			_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, 3*4096), info.Size()/2/4096*4096)
			must(t, err)
			must(t, f.Close())
			return dir, db
		}, "corrupt"},
		"truncated": {func(t *testing.T) (string, string) {
			dir, db := populatedDatabase(t)
			info, err := os.Stat(db)
			must(t, err)
			must(t, os.Truncate(db, info.Size()/2/4096*4096))
			return dir, db
		}, "corrupt"},
		"another application's database": {func(t *testing.T) (string, string) {
			return otherApplication(t, "0")
		}, "not a dialtone database"},
		"another application's database with a schema version": {func(t *testing.T) (string, string) {
			return otherApplication(t, "3")
		}, "not a dialtone database"},
		"a newer schema version": {func(t *testing.T) (string, string) {
			dir, db := populatedDatabase(t)
			raw, err := sql.Open("sqlite", db)
			must(t, err)
			_, err = raw.Exec(`PRAGMA user_version = 999`)
			must(t, err)
			must(t, raw.Close())
			return dir, db
		}, "schema version 999 is newer than this binary's"},
	} {
		t.Run(name, func(t *testing.T) {
			dir, db := tc.data(t)
			before, err := os.ReadFile(db)
			must(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			started := false
			err = Run(ctx, []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", dir,
				"--log-level", "error"}, nil, io.Discard, io.Discard, func(string) { started = true; cancel() })
			if started || err == nil {
				t.Fatalf("Run on a database %s: started (Run = %v), want it refused", name, err)
			}
			if prefix := "--data " + dir + ": "; !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error beginning %q that says %q", err, prefix, tc.want)
			}
			after, err := os.ReadFile(db)
			must(t, err)
			if !bytes.Equal(before, after) {
				t.Errorf("the refused start changed %s: %d bytes before, %d after", db, len(before), len(after))
			}
		})
	}
}
