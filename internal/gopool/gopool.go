// Package gopool runs short tasks on reusable goroutines.
//
// A new goroutine starts with a small stack and copies it each time it doubles. A request
// handled through the store and the SQLite driver goes deep, so a fresh goroutine per request
// pays several copies every time. A Pool keeps a finished task's goroutine waiting for the next
// one for a while, with the stack it grew (until the garbage collector shrinks an idle stack).
package gopool

import (
	"sync"
	"time"
)

// Pool runs tasks on goroutines that outlive them. The zero value is not usable; use New.
// Its goroutines end once idle for the linger time, or at once when it is closed.
type Pool struct {
	tasks     chan func() // unbuffered: a send succeeds only when a goroutine is waiting
	linger    time.Duration
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
}

// New returns a Pool whose idle goroutines wait linger for another task before they end.
func New(linger time.Duration) *Pool {
	return &Pool{tasks: make(chan func()), linger: linger, closed: make(chan struct{})}
}

// Close ends the goroutines waiting for a task, and makes every other goroutine of the pool end
// once its task is done: nothing of the pool outlives its owner. Go still runs tasks after
// Close, each on a goroutine that ends with it. Close may be called more than once.
func (p *Pool) Close() {
	p.closeOnce.Do(func() { close(p.closed) })
}

// Go runs task on a waiting goroutine of the pool, or on a new one when none is waiting. It
// never blocks, and it never bounds how many tasks run at once: callers that need a bound
// keep their own.
func (p *Pool) Go(task func()) {
	select {
	case p.tasks <- task:
	default:
		go p.work(task)
	}
}

// work runs task, then the tasks handed to it, until none comes for p.linger or the pool is
// closed.
func (p *Pool) work(task func()) {
	idle := time.NewTimer(p.linger)
	defer idle.Stop()
	for {
		task()
		idle.Reset(p.linger)
		select {
		case task = <-p.tasks:
		case <-idle.C:
			return
		case <-p.closed:
			return
		}
	}
}
