package sqlite

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// benchWorker commits the typical change of one decision, over and over, to its own call:
// the call (2 users) at its next version, one log entry for each user and one busy write.
type benchWorker struct {
	c    call.Call
	n    int
	data []byte
}

func newBenchWorker(b *testing.B, s *Store, id string) *benchWorker {
	w := &benchWorker{c: testCall(id, id+"-caller", id+"-callee"), data: make([]byte, 200)}
	w.c.Users[0].State = call.Accepted
	ch := switchboard.Change{
		Calls:   []switchboard.CallWrite{{Call: w.c}},
		Members: []switchboard.Member{{UserID: w.c.Users[0].ID, CallID: id}, {UserID: w.c.Users[1].ID, CallID: id}},
	}
	if _, err := s.Commit(bg, ch); err != nil {
		b.Fatal(err)
	}
	return w
}

func (w *benchWorker) commit(b *testing.B, s *Store) {
	prev := w.c.Version
	w.c.Version++
	w.c.Users[1].UpdateTime++
	w.n++
	now := time.Now().UnixMilli()
	ch := switchboard.Change{
		Calls: []switchboard.CallWrite{{Call: w.c, PrevVersion: prev}},
		Busy:  []switchboard.BusyWrite{{UserID: w.c.Users[1].ID, CallID: w.c.ID, InCall: w.n%2 == 1}},
		Log: []switchboard.LogEntry{
			{UserID: w.c.Users[0].ID, Event: "callUserStateChanged", Data: w.data, CreatedAt: now},
			{UserID: w.c.Users[1].ID, Event: "callUserStateChanged", Data: w.data, CreatedAt: now},
		},
	}
	if _, err := s.Commit(bg, ch); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCommit measures Commit of a typical change on a real file with fsync: one
// committer at a time (every change pays its own fsync) and many at once (group commit).
func BenchmarkCommit(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		s, _ := openTest(b, Options{})
		defer s.Close()
		w := newBenchWorker(b, s, "seq")
		b.ReportAllocs()
		start, before, cpu := time.Now(), s.Stats(), cpuTime(b)
		b.ResetTimer()
		for range b.N {
			w.commit(b, s)
		}
		report(b, s, before, start, cpu)
	})
	for _, goroutines := range []int{16, 128} {
		b.Run(fmt.Sprintf("parallel-%d", goroutines), func(b *testing.B) {
			s, _ := openTest(b, Options{})
			defer s.Close()
			var next atomic.Int64
			b.SetParallelism((goroutines + 1) / 2) // × GOMAXPROCS (2 on the reference machine)
			b.ReportAllocs()
			start, before, cpu := time.Now(), s.Stats(), cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := newBenchWorker(b, s, fmt.Sprint("p", next.Add(1)))
				for pb.Next() {
					w.commit(b, s)
				}
			})
			report(b, s, before, start, cpu)
		})
	}
}

// report adds changes/s, the average batch size (changes per transaction and fsync) and the
// process's CPU time per change (cpu-µs/op: what is not waiting for the disk).
func report(b *testing.B, s *Store, before Stats, start time.Time, cpuBefore time.Duration) {
	b.StopTimer()
	after := s.Stats()
	changes, batches := after.Changes-before.Changes, after.Batches-before.Batches
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "changes/s")
	b.ReportMetric(float64((cpuTime(b)-cpuBefore).Microseconds())/float64(b.N), "cpu-µs/op")
	if batches > 0 {
		b.ReportMetric(float64(changes)/float64(batches), "changes/batch")
	}
}

// BenchmarkLogReads measures what a login reads of its user's log (R7.2): with a lastSeq,
// LogBounds, then a resume's ReadLog of the newest 10 entries; without a usable lastSeq,
// RingingCalls. It reads them while DefaultLogIndexRows rows of 200 users wait in the log's
// tail, so each read scans them all (the most it scans by default), and when they were copied
// into the index.
func BenchmarkLogReads(b *testing.B) {
	reads := map[string]func(s *Store) error{
		"ReadLog": func(s *Store) error {
			got, err := s.ReadLog(bg, "user-7", 0, 10)
			if err == nil && len(got) != 10 {
				err = fmt.Errorf("ReadLog = %d entries, want 10", len(got))
			}
			return err
		},
		"LogBounds": func(s *Store) error {
			oldest, head, err := s.LogBounds(bg, "user-7")
			if err == nil && (oldest != 1 || head < 10) {
				err = fmt.Errorf("LogBounds = %d, %d", oldest, head)
			}
			return err
		},
		"RingingCalls": func(s *Store) error {
			calls, head, err := s.RingingCalls(bg, "user-7")
			if err == nil && (len(calls) != 0 || head < 10) {
				err = fmt.Errorf("RingingCalls = %d calls, head %d", len(calls), head)
			}
			return err
		},
	}
	for name, opts := range map[string]Options{"tail": neverCopy, "indexed": {LogIndexRows: 1}} {
		b.Run(name, func(b *testing.B) {
			s, _ := openTest(b, opts)
			defer s.Close()
			data := make([]byte, 200)
			for i := 0; i < DefaultLogIndexRows; i += 20 {
				var ch switchboard.Change
				for j := range 20 {
					ch.Log = append(ch.Log, switchboard.LogEntry{UserID: fmt.Sprint("user-", (i+j)%200), Event: "callUserStateChanged", Data: data})
				}
				if _, err := s.Commit(bg, ch); err != nil {
					b.Fatal(err)
				}
			}
			for op, read := range reads {
				b.Run(op, func(b *testing.B) {
					b.ReportAllocs()
					for range b.N {
						if err := read(s); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkCommitFanOut measures Commit of a group call's change, 16 committers at once: one
// event of about 1.5 KB (the whole call) to each of 10 users, and the call itself.
func BenchmarkCommitFanOut(b *testing.B) {
	s, _ := openTest(b, Options{})
	defer s.Close()
	var next atomic.Int64
	b.SetParallelism(8) // × GOMAXPROCS (2 on the reference machine)
	b.ReportAllocs()
	start, before, cpu := time.Now(), s.Stats(), cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("g", next.Add(1))
		users := make([]string, 10)
		for i := range users {
			users[i] = fmt.Sprintf("%s-u%d", id, i)
		}
		c := testCall(id, users...)
		data := make([]byte, 1500)
		if _, err := s.Commit(bg, switchboard.Change{Calls: []switchboard.CallWrite{{Call: c}}}); err != nil {
			b.Fatal(err)
		}
		for pb.Next() {
			prev := c.Version
			c.Version++
			ch := switchboard.Change{Calls: []switchboard.CallWrite{{Call: c, PrevVersion: prev}}}
			for _, u := range users {
				ch.Log = append(ch.Log, switchboard.LogEntry{UserID: u, Event: "callUserStateChanged", Data: data, CreatedAt: 1000})
			}
			if _, err := s.Commit(bg, ch); err != nil {
				b.Fatal(err)
			}
		}
	})
	report(b, s, before, start, cpu)
}

// cpuTime returns the CPU time (user and system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
