package gopool

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunsEveryTask: every task runs exactly once, concurrent tasks included.
func TestRunsEveryTask(t *testing.T) {
	p := New(50 * time.Millisecond)
	const n = 1000
	var mu sync.Mutex
	ran := make(map[int]int)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			mu.Lock()
			ran[i]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(ran) != n {
		t.Fatalf("%d distinct tasks ran, want %d", len(ran), n)
	}
	for i, c := range ran {
		if c != 1 {
			t.Fatalf("task %d ran %d times", i, c)
		}
	}
}

// TestGoNeverBlocks: a task that waits does not hold up the next one, which gets a goroutine
// of its own.
func TestGoNeverBlocks(t *testing.T) {
	p := New(50 * time.Millisecond)
	release := make(chan struct{})
	second := make(chan struct{})
	p.Go(func() { <-release })
	p.Go(func() { close(second) })
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second task did not run while the first waited")
	}
	close(release)
}

// TestReusesAndEnds: a task handed over while a goroutine waits runs on that goroutine, and
// idle goroutines end after the linger time.
func TestReusesAndEnds(t *testing.T) {
	waitFor(t, func() bool { return poolGoroutines("") == 0 }, "the other tests' goroutines to end")
	p := New(300 * time.Millisecond)
	before := runtime.NumGoroutine()
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	waitFor(t, func() bool { return poolGoroutines("[select") == 1 }, "the goroutine to wait for a task")

	release := make(chan struct{})
	running := make(chan struct{})
	p.Go(func() { close(running); <-release })
	<-running
	if n := runtime.NumGoroutine(); n != before+1 {
		t.Errorf("%d goroutines while the second task runs, want %d: it did not reuse the first", n, before+1)
	}
	close(release)
	waitFor(t, func() bool { return runtime.NumGoroutine() == before }, "the idle goroutine to end")
}

// poolGoroutines counts the pool goroutines whose stack header contains state ("[select": those
// waiting for a task; "": all of them, also those still finishing a task).
func poolGoroutines(state string) int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, state) && strings.Contains(g, "gopool.(*Pool).work") {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (goroutines: %d)", what, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCloseEndsTheIdleGoroutines: Close ends the goroutines waiting for a task at once, and a
// goroutine still running a task when Close came, or started by a later Go, ends after its
// task, whatever the linger time: a closed pool leaves nothing behind its owner.
func TestCloseEndsTheIdleGoroutines(t *testing.T) {
	waitFor(t, func() bool { return poolGoroutines("") == 0 }, "the other tests' goroutines to end")
	p := New(time.Hour)
	release := make(chan struct{})
	var started sync.WaitGroup
	for range 3 {
		started.Add(1)
		p.Go(func() { started.Done(); <-release })
	}
	started.Wait()
	busy := make(chan struct{})
	close(release)
	waitFor(t, func() bool { return poolGoroutines("[select") == 3 }, "three goroutines to wait for a task")
	started.Add(1)
	p.Go(func() { started.Done(); <-busy })
	started.Wait()
	p.Close()
	waitFor(t, func() bool { return poolGoroutines("") == 1 }, "the idle goroutines to end once the pool closed")
	close(busy)
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	<-ran
	waitFor(t, func() bool { return poolGoroutines("") == 0 }, "every goroutine of the closed pool to end after its task")
}
