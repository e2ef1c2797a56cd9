package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/client"
)

const clientUsage = `
Usage: dialtone client --url URL --user USER [--device D] (--token T | --secret S)

An interactive terminal client: it logs in as one device of USER, prints the user's events as
they arrive, and reads commands, one per line, from stdin (a terminal or a pipe). Type "help"
for the commands. It stops at "exit", at the end of stdin, or on Ctrl-C. A command that fails
prints its error and the client goes on with the next one, as a shell runs a script; the exit
status is then 1 (0 when every command succeeded), so a script piped into the client tells its
caller that a command failed. A call may be named by
any unambiguous beginning or end of the ID of a call this client has seen; the client prints
the last six characters. Arguments are quoted as in a shell to hold blanks:
invite bob --data '{"room": "r1"}'. What other users send (extendedData) is printed quoted as
a Go string, its control characters escaped ("\x1b"), so that it cannot act on the terminal.
`

// runClient implements "dialtone client".
func runClient(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("client", clientUsage, stdout, stderr)
	var cf connFlags
	cf.register(fs, "dialtone-cli")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	cf.settle(fs)
	if len(pos) > 0 {
		return fmt.Errorf("client: unexpected argument %q", pos[0])
	}
	con := &console{out: &printer{w: stdout}, book: newCallBook(), explain: cf.explain}
	h := &eventPrinter{con: con}
	lctx, cancel := cf.loginContext(ctx)
	defer cancel()
	c, err := cf.dial(lctx, client.Options{EventHandler: h})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.Close() // which returns once the kick and the end are printed
	con.c.Store(c)
	res, err := cf.login(lctx, c)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	cancel()
	con.out.event("logged in as %s on device %s (server %s); type help for commands",
		res.UserID, res.DeviceID, cf.url)
	return con.loop(ctx, stdin)
}

// console is the state of an interactive client.
type console struct {
	c    atomic.Pointer[client.Client] // set before login, read by the event handler
	out  *printer
	book *callBook
	// explain adds what the client knows of why its session ended (connFlags.explain).
	explain func(error) error
}

func (con *console) client() *client.Client { return con.c.Load() }

// loop reads and runs commands until exit, the end of stdin, ctx's end or the client's end.
// A command that fails is reported and the next one runs, as a shell runs a script; loop then
// returns an error naming the failures (failures.err), so that the exit status is 1.
func (con *console) loop(ctx context.Context, stdin io.Reader) error {
	lines := readLines(stdin)
	var failed failures
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return failed.err()
		case <-con.client().Done():
			return fmt.Errorf("client: session ended: %w", con.explain(con.client().Err()))
		case in, ok := <-lines:
			switch {
			case !ok:
				return failed.err()
			case in.err != nil:
				return fmt.Errorf("client: read stdin: %w", in.err)
			case in.tooLong:
				err := fmt.Errorf("line longer than %d bytes ignored", maxLineLen)
				con.out.line("error: %v", err)
				failed.add(n, err)
			default:
				exit, err := con.exec(ctx, in.line)
				failed.add(n, err)
				if exit {
					return failed.err()
				}
			}
		}
	}
}

// failures counts the commands of a client's input that failed, and keeps the first.
type failures struct {
	count int
	line  int // the line of the first, from 1
	first error
}

// add counts err, a failure of the command on line n, unless it is nil.
func (f *failures) add(n int, err error) {
	if err == nil {
		return
	}
	if f.count == 0 {
		f.line, f.first = n, err
	}
	f.count++
}

// err returns nil when no command failed, else an error naming how many did and the first.
func (f *failures) err() error {
	switch f.count {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("client: 1 command failed (line %d: %w)", f.line, f.first)
	}
	return fmt.Errorf("client: %d commands failed (the first on line %d: %w)", f.count, f.line, f.first)
}

// maxLineLen bounds a command line; no command needs that much (an extendedData is at most
// 2,048 bytes).
const maxLineLen = 64 << 10

// input is one line of stdin, or the error that ended it.
type input struct {
	line    string
	tooLong bool // the line was longer than maxLineLen: line is empty
	err     error
}

// readLines sends stdin's lines on the returned channel, closed at the end of stdin (after an
// error, if reading failed). The goroutine ends with stdin.
func readLines(r io.Reader) <-chan input {
	ch := make(chan input)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			in := readLine(br)
			if errors.Is(in.err, io.EOF) {
				return
			}
			ch <- in
			if in.err != nil {
				return
			}
		}
	}()
	return ch
}

// readLine reads one line without its line ending; a line longer than maxLineLen is read to
// its end and reported tooLong.
func readLine(br *bufio.Reader) input {
	var buf []byte
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		n += len(chunk)
		if n <= maxLineLen {
			buf = append(buf, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && (n == 0 || !errors.Is(err, io.EOF)):
			return input{err: err}
		case n > maxLineLen:
			return input{tooLong: true}
		}
		return input{line: strings.TrimRight(string(buf), "\r\n")}
	}
}

// printer serialises output lines from the command loop and the event handler.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

// line prints one line as is.
func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// event prints one line prefixed with the local time.
func (p *printer) event(format string, args ...any) {
	p.line("[%s] "+format, append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// callBook remembers the calls a client has seen and the last known state of their users,
// to resolve call-ID prefixes and to print state changes as "from → to".
type callBook struct {
	mu     sync.Mutex
	states map[string]map[string]client.CallUserState
}

func newCallBook() *callBook {
	return &callBook{states: make(map[string]map[string]client.CallUserState)}
}

// shortIDLen is how much of a call ID the client prints: its end, which is random (a call ID
// begins with its creation time, shared by calls created within seconds of each other).
const shortIDLen = 6

func short(id string) string {
	if len(id) <= shortIDLen {
		return id
	}
	return id[len(id)-shortIDLen:]
}

// remember records a call and the states of users.
func (b *callBook) remember(callID string, users []client.CallUserInfo) {
	b.transitions(callID, users)
}

// transitions records users' states in a call and returns, for each, "user from → to" (or
// "user to" when the previous state is unknown).
func (b *callBook) transitions(callID string, users []client.CallUserInfo) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.states[callID]
	if m == nil {
		m = make(map[string]client.CallUserState)
		b.states[callID] = m
	}
	out := make([]string, 0, len(users))
	for _, u := range users {
		if old, ok := m[u.UserID]; ok && old != u.State {
			out = append(out, fmt.Sprintf("%s %s → %s", u.UserID, stateName(old), stateName(u.State)))
		} else {
			out = append(out, fmt.Sprintf("%s %s", u.UserID, stateName(u.State)))
		}
		m[u.UserID] = u.State
	}
	return out
}

// resolve returns the known call ID that ref begins or ends; an unknown ref is returned as is
// (the server decides), an ambiguous or empty one is an error.
func (b *callBook) resolve(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("an empty CALL names no call")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.states[ref]; ok {
		return ref, nil
	}
	var found []string
	for id := range b.states {
		if strings.HasPrefix(id, ref) || strings.HasSuffix(id, ref) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return ref, nil
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return "", fmt.Errorf("call %q is ambiguous: %s", ref, strings.Join(found, ", "))
}
