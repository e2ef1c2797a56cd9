// Package gopool runs short tasks on reusable goroutines.
//
// A new goroutine starts with a small stack and copies it each time it doubles. A request
// handled through the store and the SQLite driver goes deep, so a fresh goroutine per request
// pays several copies every time. A Pool keeps a finished task's goroutine waiting for the next
// one for a while, with the stack it grew (until the garbage collector shrinks an idle stack).
package gopool

import "time"

// Pool runs tasks on goroutines that outlive them. The zero value is not usable; use New.
// A Pool needs no closing: its goroutines end once idle for the linger time.
type Pool struct {
	tasks  chan func() // unbuffered: a send succeeds only when a goroutine is waiting
	linger time.Duration
}

// New returns a Pool whose idle goroutines wait linger for another task before they end.
func New(linger time.Duration) *Pool {
	return &Pool{tasks: make(chan func()), linger: linger}
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

// work runs task, then the tasks handed to it, until none comes for p.linger.
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
		}
	}
}
