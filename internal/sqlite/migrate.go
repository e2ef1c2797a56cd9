package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded file migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Versions start at 1 and have no
// gaps, so PRAGMA user_version is the number of migrations applied.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(text)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// initTables are tables the first migration creates: a database with a schema version and
// without one of them is no database of this program.
var initTables = []string{"calls", "members", "busy", "users", "log"}

// checkFile reads the database before anything writes to it (even the switch to WAL mode
// writes its header), and refuses one that is not this program's, is newer than this
// binary, or is damaged: a start on it would otherwise write its tables into another
// program's file, or serve from a file that fails some reads and writes, and change it. The
// structure check (PRAGMA quick_check) reads every page, which takes a moment per 100 MB.
func checkFile(ctx context.Context, conn *sql.Conn) error {
	corrupt := func(err error) error {
		if faultReason(err) == "corrupt" {
			return fmt.Errorf("the file is corrupt or not a database: %w", err)
		}
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	var version, objects int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return corrupt(fmt.Errorf("read schema version: %w", err))
	}
	if version > len(ms) {
		return fmt.Errorf("schema version %d is newer than this binary's %d", version, len(ms))
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
		return corrupt(fmt.Errorf("read schema: %w", err))
	}
	if version == 0 && objects > 0 {
		return errors.New("not a dialtone database: it holds tables of another program")
	}
	if version > 0 {
		for _, table := range initTables {
			var n int
			if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?",
				table).Scan(&n); err != nil {
				return corrupt(fmt.Errorf("read schema: %w", err))
			}
			if n == 0 {
				return fmt.Errorf("not a dialtone database: schema version %d and no table %s", version, table)
			}
		}
	}
	var result string
	if err := conn.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&result); err != nil {
		return corrupt(fmt.Errorf("PRAGMA quick_check: %w", err))
	}
	if result != "ok" {
		return fmt.Errorf("the file is corrupt (PRAGMA quick_check: %s)", result)
	}
	return nil
}

// migrate applies, each in its own transaction, the migrations newer than the database's
// user_version. A database newer than this binary is refused rather than misread, and one
// that cannot be written (a read-only file or mount) is refused rather than found out by
// every commit failing.
func migrate(ctx context.Context, conn *sql.Conn) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var current int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("schema version %d is newer than this binary's %d", current, len(ms))
	}
	if current == len(ms) { // nothing to apply writes; this write proves that the file takes them
		if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(current)); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	}
	for _, m := range ms[current:] {
		if err := apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, conn *sql.Conn, m migration) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; the version is an integer we produced.
	if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
