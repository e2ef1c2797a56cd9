package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("sqlite: store closed")

// ErrInUse is returned by Open when another open Store, of this process or another, holds the
// file: a store keeps the calls, the busy table and the users' heads in memory, so two of them
// on one file would each decide on what the other no longer sees.
var ErrInUse = errors.New("in use by another store")

// Defaults of Options.
const (
	DefaultMaxBatch    = 256
	DefaultReaders     = 4
	DefaultBusyTimeout = 5000 // ms
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives failures of the commit path; nil discards them.
	Logger *slog.Logger
	// Publish, when not nil, receives the log entries of every committed change (see
	// switchboard.Publisher): on the writer goroutine, after the COMMIT, before the Commit
	// returns. It must not block.
	Publish switchboard.Publisher
	// ObserveBatch, when not nil, is told how many changes each committed transaction held
	// (metrics), 0 for one of maintenance only: on the writer goroutine, after the COMMIT. It
	// must not block.
	ObserveBatch func(changes int)
	// MaxBatch caps the changes committed in one transaction (default DefaultMaxBatch).
	MaxBatch int
	// Readers is the size of the read connection pool (default DefaultReaders).
	Readers int
	// LogIndexRows and LogIndexEvery say when the writer copies the newest log rows into the
	// per-user index (logindex.go): once that many rows wait, or the first of them has waited
	// that long (defaults DefaultLogIndexRows, DefaultLogIndexEvery). Reads scan the rows not
	// yet copied, so fewer rows make reads cheaper and commits dearer.
	LogIndexRows  int
	LogIndexEvery time.Duration
	// BusyTimeoutMs is SQLite's busy_timeout for every connection (default
	// DefaultBusyTimeout). The store itself never contends; it matters only when another
	// process (a backup, the sqlite3 shell) holds a lock.
	BusyTimeoutMs int
	// Now reads the time of Open, which makes the least seq the store gives (seqFloor), and
	// the times of failed writes, which Writable's probe waits on (nil: time.Now).
	Now func() time.Time
}

// Store is a switchboard.Store on one SQLite database file. Open refuses a file that another
// open Store holds (ErrInUse).
type Store struct {
	wdb     *sql.DB // one connection, owned by the writer goroutine
	w       *writer
	rdb     *sql.DB  // the read pool
	lock    *os.File // holds the file's lock (lockFile) until Close; nil where there is none
	r       readStmts
	memo    memo // Call and BusyCall from memory (memo.go)
	log     *slog.Logger
	publish switchboard.Publisher
	observe func(changes int)

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *request
	done   chan struct{} // closed when the writer goroutine has returned
	max    int

	batches atomic.Int64
	changes atomic.Int64

	// fault is the last write attempt's storage failure, nil after a write (health.go): written
	// by the writer goroutine only, read by Fault and Writable.
	fault   atomic.Pointer[WriteFault]
	probing atomic.Bool      // a Writable probe is under way
	path    string           // the database file
	now     func() time.Time // Options.Now

	// fileMu guards file, and is held by the writer for each batch from its check of the
	// file to the stat after its COMMIT (health.go: stillThere).
	fileMu sync.Mutex
	file   os.FileInfo // the file Open opened at path, as the store's last write left it
}

var _ switchboard.Store = (*Store)(nil)

// createOwnerOnly creates the file at path, empty and with mode 0600, when it does not exist:
// SQLite takes an empty file for an empty database, and would create a missing one with the
// process's default mode (0644 under the usual umask).
func createOwnerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Open opens (creating if needed) the database file at path, applies the missing migrations
// and starts the writer. path is a file name; it must not contain '?'. ctx bounds the opening
// only. A database file Open creates is readable and writable by its owner only, and so are
// the files SQLite keeps beside it (-wal, -shm), which take its permissions; an existing
// file keeps its own.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: open %q: need a plain file name", path)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Readers <= 0 {
		opts.Readers = DefaultReaders
	}
	if opts.LogIndexRows <= 0 {
		opts.LogIndexRows = DefaultLogIndexRows
	}
	if opts.LogIndexEvery <= 0 {
		opts.LogIndexEvery = DefaultLogIndexEvery
	}
	if opts.BusyTimeoutMs <= 0 {
		opts.BusyTimeoutMs = DefaultBusyTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", opts.BusyTimeoutMs)

	lock, err := lockFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	err = createOwnerOnly(path)
	var wdb *sql.DB
	if err == nil {
		wdb, err = sql.Open("sqlite", path+"?"+busy)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &Store{wdb: wdb, lock: lock, log: opts.Logger, publish: opts.Publish, max: opts.MaxBatch, now: opts.Now}
	if s.observe = opts.ObserveBatch; s.observe == nil {
		s.observe = func(int) {}
	}
	fail := func(err error) (*Store, error) {
		if s.w != nil {
			s.w.close()
		}
		if s.rdb != nil {
			s.rdb.Close()
		}
		wdb.Close()
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	conn, err := wdb.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	if err := checkFile(ctx, conn); err != nil { // before anything writes to the file
		conn.Close()
		return fail(err)
	}
	if err := writerPragmas(ctx, conn); err != nil {
		conn.Close()
		return fail(err)
	}
	if err := migrate(ctx, conn); err != nil {
		conn.Close()
		return fail(err)
	}
	if s.w, err = newWriter(ctx, conn, &s.memo, opts); err != nil {
		conn.Close()
		return fail(err)
	}
	s.memo.calls = map[string][]byte{}
	if err := s.memo.reload(ctx, conn); err != nil {
		return fail(err)
	}

	s.rdb, err = sql.Open("sqlite", path+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		return fail(err)
	}
	s.rdb.SetMaxOpenConns(opts.Readers)
	s.rdb.SetMaxIdleConns(opts.Readers)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.r.prepare(ctx, s.rdb); err != nil {
		return fail(err)
	}

	if s.file, err = os.Stat(path); err != nil {
		return fail(err)
	}
	s.path = path
	s.queue = make(chan *request, opts.MaxBatch)
	s.done = make(chan struct{})
	go s.run()
	return s, nil
}

// Close stops accepting commits, waits for the writer to finish every change already queued
// (each gets its outcome), then closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	err := errors.Join(s.r.close(), s.rdb.Close(), s.w.close(), s.wdb.Close())
	if s.lock != nil { // the database is closed: another store may open it
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Stats are the store's counters since Open.
type Stats struct {
	Batches int64 // transactions committed by the writer (each one fsync)
	Changes int64 // changes committed, not counting maintenance; Changes/Batches is the average batch size
}

// Stats returns the commit counters, for benchmarks (metrics use Options.ObserveBatch).
func (s *Store) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Changes: s.changes.Load()}
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// writerPragmas sets up the writing connection. Measured on BenchmarkCommit and with the load
// tool (see docs/benchmarks.md): savepoint sub-journals in a temporary file cost a write per
// touched page, and checkpointing every 1000 pages (the default) rewrote hot pages too often.
//
// The page cache is kept small on purpose. When a B-tree page splits, SQLite renumbers the new
// pages through a temporary page number past the end of the file (the lock-byte page), so the
// next COMMIT truncates the cache back to the file's size by scanning every cached page. That
// scan is proportional to the cache: with 32 MiB it took about a millisecond and, under load,
// up to 15 ms, a stall behind which every queued change waits. With 4 MiB both the commit
// benchmark and the load tool measured faster.
func writerPragmas(ctx context.Context, conn *sql.Conn) error {
	for _, p := range []string{
		"journal_mode = WAL",
		"synchronous = FULL",            // R7.1: every COMMIT fsyncs the WAL
		"temp_store = MEMORY",           // savepoint sub-journals stay in memory
		"cache_size = -4096",            // 4 MiB of page cache for the writer (see above)
		"wal_autocheckpoint = 8000",     // pages (32 MiB of WAL) between checkpoints
		"journal_size_limit = 67108864", // truncate a WAL that grew past 64 MiB once checkpointed
	} {
		if _, err := conn.ExecContext(ctx, "PRAGMA "+p); err != nil {
			return fmt.Errorf("PRAGMA %s: %w", p, err)
		}
	}
	return nil
}
