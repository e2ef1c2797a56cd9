package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// output collects what the program writes, for the program and the test at once, and
// tells a waiter each time it grows.
type output struct {
	mu   sync.Mutex
	text []byte
	grew chan struct{} // signalled, without blocking, after each write
}

func newOutput() *output { return &output{grew: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.text = append(o.text, p...)
	o.mu.Unlock()
	select {
	case o.grew <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.text)
}

// cli is the program running in-process, with stdin fed by the test.
type cli struct {
	t    *testing.T
	in   *io.PipeWriter
	out  *output
	done chan struct{} // closed when run returned
	err  error         // what run returned
}

// startCLI runs the program with args until the test ends or its stdin is closed.
func startCLI(t *testing.T, args ...string) *cli {
	t.Helper()
	return startCLIWriting(t, func(o *output) io.Writer { return o }, args...)
}

// startCLIWriting is startCLI with the program writing to writer(the collected output).
func startCLIWriting(t *testing.T, writer func(*output) io.Writer, args ...string) *cli {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	c := &cli{t: t, in: pw, out: newOutput(), done: make(chan struct{})}
	w := writer(c.out)
	go func() {
		defer close(c.done)
		c.err = run(ctx, args, pr, w, w)
	}()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("the program did not stop")
		}
	})
	return c
}

// send types one line.
func (c *cli) send(line string) {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.in, line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// waitFor waits for the output to match pattern and returns the submatches of the first
// match.
func (c *cli) waitFor(pattern string) []string {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	timeout := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			return m
		}
		select {
		case <-c.out.grew:
		case <-timeout:
			c.t.Fatalf("no output matching %q in:\n%s", pattern, c.out.String())
		}
	}
}

// wait waits for the program to return.
func (c *cli) wait() error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(10 * time.Second):
		c.t.Fatal("the program did not return")
		return nil
	}
}

// runOnce runs the program to completion without stdin and returns its outputs.
func runOnce(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	out, errOut := newOutput(), newOutput()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	err = run(ctx, args, strings.NewReader(""), out, errOut)
	return out.String(), errOut.String(), err
}

// silentServer returns the WebSocket URL of a listener that accepts connections and never
// answers (another service, a stopped process); it closes with the test.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "ws://" + ln.Addr().String() + "/v1/ws"
}
