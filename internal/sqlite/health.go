package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ProbeAfter is how long after the store's last failed write Writable tries a write of its
// own, when nothing else wrote meanwhile (see Writable).
const ProbeAfter = 5 * time.Second

// WriteFault is the error of Fault and Writable: the last write attempt failed for a reason
// that is no fault of the change (a full disk, an I/O error, a read-only file system), so
// every change fails until the database can be written again; or a write or a read met
// damaged pages (reason "corrupt"), which lasts (see lasts).
type WriteFault struct {
	Reason string // "disk full", "I/O error", "read-only", "corrupt", "cannot open a file", "removed"
	Err    error  // the SQLite error of the last failed attempt
	at     time.Time
}

// Error names the reason only; Err holds SQLite's detail.
func (f *WriteFault) Error() string { return "the database cannot be written: " + f.Reason }

// Unwrap returns the SQLite error.
func (f *WriteFault) Unwrap() error { return f.Err }

// lasts reports whether f stays until the store is closed, whatever commits meanwhile: damaged
// pages do not mend, and a write that commits on pages left whole (a probe) says nothing of
// them. A restore repairs them; the next Open checks the file whole.
func (f *WriteFault) lasts() bool { return f != nil && f.Reason == reasonCorrupt }

// reasonCorrupt is the reason of a fault of damaged pages.
const reasonCorrupt = "corrupt"

// faultReasons are the SQLite primary result codes that say the database cannot be written,
// whatever the change: the storage's fault, not the change's.
var faultReasons = map[int]string{
	sqlite3.SQLITE_FULL:     "disk full",
	sqlite3.SQLITE_IOERR:    "I/O error",
	sqlite3.SQLITE_READONLY: "read-only",
	sqlite3.SQLITE_CORRUPT:  reasonCorrupt,
	sqlite3.SQLITE_NOTADB:   reasonCorrupt,
	sqlite3.SQLITE_CANTOPEN: "cannot open a file",
}

// faultReason returns the reason err says the database cannot be written, or "" when err is
// not such an error (nil, a conflict, a busy lock).
func faultReason(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, errRemoved) {
		return "removed"
	}
	if errors.Is(err, errUndecodable) || errors.Is(err, errWrittenBehind) {
		return reasonCorrupt
	}
	var se *driver.Error
	if !errors.As(err, &se) {
		return ""
	}
	return faultReasons[se.Code()&0xff]
}

// errUndecodable says a row read from the database holds what the store never writes: a call
// that does not decode, is another call's or disagrees with the columns of its row copied out
// of it (decodeStored), a value of another type than its
// column's (scanStored), a log entry or an idempotency reply that is not what the switchboard
// encodes (checkEntry, Idempotency), a log entry naming shared data that is gone (ReadLog), a
// date that retention compares holding no integer (findUndatable, after Prune).
// Damaged pages that SQLite did not find, or a row altered behind the store's back.
var errUndecodable = errors.New("sqlite: a stored row does not decode")

// errRemoved says the database file is no longer at its path: removed (its directory with
// it) or moved away while open. SQLite would go on committing to the open file, in WAL mode
// without a word, and what it committed would be lost with the process although each reply
// said it was stored (R7.1).
var errRemoved = errors.New("sqlite: the database file was removed or moved while in use")

// errWrittenBehind says the database file was written while in use by another program than
// the store (a backup restored over it, a file copied onto it): the same file, but not as the
// store's last write left it. SQLite would go on through its WAL and its cache as if nothing
// happened, mixing the pages it holds with the file's new ones: damage, which lasts
// (faultReason "corrupt").
var errWrittenBehind = errors.New("sqlite: the database file was written by another program while in use")

// stillThere returns an error wrapping errRemoved when the file at the store's path is not
// the one Open opened, or errWrittenBehind when its size or modification time is not what
// the store's last write left (s.file, restamp): checked before every transaction of the
// writer and by Writable, a stat. The caller holds s.fileMu.
func (s *Store) stillThere() error {
	fi, err := os.Stat(s.path)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s: %w", errRemoved, s.path, err)
	case !os.SameFile(fi, s.file):
		return fmt.Errorf("%w: %s: another file is at its path", errRemoved, s.path)
	case fi.Size() != s.file.Size() || !fi.ModTime().Equal(s.file.ModTime()):
		return fmt.Errorf("%w: %s: %d bytes modified at %s, after the store's last write left %d bytes at %s",
			errWrittenBehind, s.path, fi.Size(), fi.ModTime().Format(time.RFC3339Nano),
			s.file.Size(), s.file.ModTime().Format(time.RFC3339Nano))
	}
	return nil
}

// restamp records the database file as a batch of the writer left it (its COMMIT may have
// copied the WAL into the file), for stillThere. The caller holds s.fileMu.
func (s *Store) restamp() {
	if fi, err := os.Stat(s.path); err == nil && os.SameFile(fi, s.file) {
		s.file = fi
	}
}

// recheckFile records a fault when stillThere finds the file removed, replaced or written by
// another program; it checks nothing while a batch of the writer runs, which checks the file
// itself.
func (s *Store) recheckFile() {
	if !s.fileMu.TryLock() {
		return
	}
	err := s.stillThere()
	s.fileMu.Unlock()
	if err != nil {
		s.recordFault(err)
	}
}

// Fault returns the *WriteFault of the store's last write attempt, or nil when it wrote, or
// failed for the change's own reason; a fault that lasts (damaged pages, met by a write or a
// read) it returns from then on. It never writes. After Close it still reports the last
// attempt (a metric of it stays readable); Writable reports the closed store.
func (s *Store) Fault() error {
	if f := s.fault.Load(); f != nil {
		return f
	}
	return nil
}

// Writable returns Fault, after trying a small write of its own (a probe, through the writer
// like a change) when the fault does not last, the last failure is at least ProbeAfter old and
// no other probe is under way: without it, a server that its load balancer stopped sending
// requests to, because of this very fault, would never find its database writable again. It
// waits for the probe's outcome only until ctx ends, and then returns the fault it found: the
// probe still runs, and ends the fault if it commits, and no other probe starts before it is
// done, so readiness checks never pile probes up behind a writer that is stuck. It first
// checks, as each batch does, that the database file is still at its path as the store left it:
// one removed, replaced or written by another program is found without waiting for a change to
// fail. After Close, also one that happened
// while the probe waited, it returns ErrClosed: a closed store takes no writes.
func (s *Store) Writable(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	s.recheckFile()
	f := s.fault.Load()
	if f == nil {
		return nil
	}
	if f.lasts() || s.now().Sub(f.at) < ProbeAfter || !s.probing.CompareAndSwap(false, true) {
		return f
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.probing.Store(false)
		_, _ = s.submit(context.Background(), &request{writes: true, apply: probeWrite}) // the writer records the outcome
	}()
	select {
	case <-done:
		if s.isClosed() { // closed while the probe waited: it tells nothing of a store in use
			return ErrClosed
		}
		return s.Fault()
	case <-ctx.Done():
		return f
	}
}

// probeSQL changes the one row of log_indexed and changes it back: a page is dirtied, so the
// COMMIT appends a frame to the WAL, and the data stays as it was. (SQLite skips a page write
// that would leave the page's bytes as they were, so "SET upto = upto" would write nothing.)
const probeSQL = `UPDATE log_indexed SET upto = -upto - 1; UPDATE log_indexed SET upto = -upto - 1`

// probeWrite is the apply of Writable's probe.
func probeWrite(w *writer) ([]int64, error) {
	if _, err := w.conn.ExecContext(context.Background(), probeSQL); err != nil {
		return nil, fmt.Errorf("sqlite: probe: %w", err)
	}
	return nil, nil
}

// recordFault records that a write attempt or a read failed with err, when err says the
// database cannot be used (faultReason), and reports whether it did; the first such failure
// after a success is logged at ERROR. A fault that lasts is kept over the new one. The writer
// goroutine calls it for writes, readFailed for reads.
func (s *Store) recordFault(err error) bool {
	reason := faultReason(err)
	if reason == "" {
		return false
	}
	fault := &WriteFault{Reason: reason, Err: err, at: s.now()}
	for {
		old := s.fault.Load()
		if old.lasts() {
			return true
		}
		if s.fault.CompareAndSwap(old, fault) {
			if old == nil {
				s.log.Error("sqlite: the database cannot be written; every change fails until it can",
					"reason", reason, "err", err)
			}
			return true
		}
	}
}

// readFailed returns err, the error of a read, as the read's caller gets it: when err says the
// database cannot be used (damaged pages, a file that is no database, an I/O error), the store
// records it as its fault, as it does a write's (/readyz answers 503 before any change meets the
// damage), and err wraps switchboard.ErrStorageUnavailable, which callers tell as such.
func (s *Store) readFailed(err error) error {
	if !s.recordFault(err) {
		return err
	}
	return fmt.Errorf("%w: %w", switchboard.ErrStorageUnavailable, err)
}

// Damaged records err, damage that the switchboard found in a row the store read as its own
// (switchboard.Store.Damaged), as the store's reads record theirs (errUndecodable): logged at
// ERROR, lasting, /readyz 503 "corrupt". It returns err wrapping switchboard.ErrStorageUnavailable.
func (s *Store) Damaged(err error) error {
	return s.readFailed(fmt.Errorf("%w: %w", errUndecodable, err))
}

// wroteAgain clears the fault, unless it lasts, once batch committed a write (a change or a
// probe: maintenance such as a Prune with nothing to delete commits without writing). Only the
// writer goroutine calls it, after a COMMIT, and only while there is a fault.
func (s *Store) wroteAgain(batch []*request) {
	fault := s.fault.Load()
	if fault.lasts() {
		return
	}
	for _, r := range batch {
		if r.err == nil && r.writes {
			if s.fault.CompareAndSwap(fault, nil) { // not a fault a read recorded meanwhile
				s.log.Info("sqlite: the database is writable again")
			}
			return
		}
	}
}
