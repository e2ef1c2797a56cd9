package main

import (
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/wire"
	"github.com/dialtone/dialtone/protocol"
)

// Pages of the database damaged on disk while the server runs, met by a query before any
// change meets them: the query is answered 6000270 with "storage unavailable, retry later",
// not left unanswered, /readyz answers 503 naming the damage, and /healthz stays 200: a
// restart would only refuse the damaged file (docs/operations.md "When the disk fills":
// damaged pages).
func TestE2EQueryMeetingDamagedPagesMakesTheServerNotReady(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "dialtone.db")
	store, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	must(t, err)
	must(t, store.Close())
	raw, err := sql.Open("sqlite", db)
	must(t, err)
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	_, err = raw.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
		INSERT INTO members (user_id, call_id) SELECT printf('user-%04d', i % 500), printf('call-%06d', i) FROM n`)
	must(t, err)
	_, err = raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	must(t, err)

	srv := startServerOn(t, dir)
	r := srv.raw(t)
	r.login("user-0001")
	damagePagesPastTheSchema(t, db)
	var version int
	must(t, raw.QueryRow(`PRAGMA user_version`).Scan(&version))
	_, err = raw.Exec(`PRAGMA busy_timeout = 10000`)
	must(t, err)
	_, err = raw.Exec(`PRAGMA user_version = ` + strconv.Itoa(version)) // the server's connections drop their cached pages
	must(t, err)

	r.send(`{"id":2,"op":"queryCallInvitationList","data":{"count":10}}`)
	if f := r.reply(2); f.Error == nil || f.Error.Code != protocol.CodeInternal || f.Error.Message != wire.MsgStorageUnavailable {
		t.Errorf("queryCallInvitationList on damaged pages: %+v, want code %d with %q", f.Error, protocol.CodeInternal,
			wire.MsgStorageUnavailable)
	}
	base := "http://" + srv.Addr
	if status, body := getStatus(t, base+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "corrupt") {
		t.Errorf("/readyz: %d %q, want 503 naming the damage", status, body)
	}
	if status, _ := getStatus(t, base+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", status)
	}
}

// damagePagesPastTheSchema overwrites every page of the database file db from its third on,
// as a failing disk or another program writing into it would.
func damagePagesPastTheSchema(t *testing.T, db string) {
	t.Helper()
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	must(t, err)
	info, err := f.Stat()
	must(t, err)
	const page = 4096
	for off := int64(2 * page); off < info.Size(); off += page {
		_, err := f.WriteAt([]byte(strings.Repeat("\xA5", page)), off)
		must(t, err)
	}
	must(t, f.Close())
}
