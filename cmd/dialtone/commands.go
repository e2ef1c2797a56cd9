package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dialtone/dialtone/client"
)

// command is one line command of the interactive client.
type command struct {
	name, args, help string
	run              func(ctx context.Context, con *console, args []string) error
}

// defaultRingSeconds is how long invite and more ring without --timeout.
const defaultRingSeconds = 30

// commandTable lists the interactive commands in the order help prints them (a function, not
// a variable, because help refers to it).
func commandTable() []command {
	return []command{
		{"invite", "USER… [--timeout S] [--advanced] [--data X] [--check]", fmt.Sprintf("start a call ringing USERs, %ds unless --timeout (callInvite)", defaultRingSeconds), cmdInvite},
		{"cancel", "CALL [USER…]", "withdraw the call, or some invitations (callCancel)", cmdCancel},
		{"accept", "CALL", "accept an invitation (callAccept)", callOp("accept")},
		{"reject", "CALL", "reject an invitation (callReject)", callOp("reject")},
		{"more", "CALL USER… [--timeout S] [--data X]", fmt.Sprintf("invite more users into an advanced call, %ds unless --timeout (callingInvite)", defaultRingSeconds), cmdMore},
		{"join", "CALL", "join an advanced call, or move it to this device (callJoin)", callOp("join")},
		{"quit", "CALL", "leave an advanced call (callQuit)", callOp("quit")},
		{"end", "CALL", "end an advanced call for everyone (callEnd)", callOp("end")},
		{"list", "[COUNT] [NEXT]", "list your calls, newest first (queryCallInvitationList)", cmdList},
		{"show", "CALL", "show one call (queryCall)", cmdShow},
		{"sleep", "DURATION", "wait, printing events (for scripts: sleep 2s)", cmdSleep},
		{"help", "", "this list", cmdHelp},
		{"exit", "", "leave (also at the end of input, or Ctrl-C)", nil},
	}
}

// errUsage asks exec to print the command's synopsis.
var errUsage = errors.New("wrong arguments")

// badFlag is errUsage with the flag or argument error that caused it, which exec prints
// first.
type badFlag struct{ err error }

func (e badFlag) Error() string        { return e.err.Error() }
func (e badFlag) Is(target error) bool { return target == errUsage }

// exec runs one line. exit reports that the client should exit (the line was "exit"); err,
// already printed, tells why the command failed, for the exit status (see failures). A
// command cut short by ctx's end (Ctrl-C) did not fail: the client was stopped.
func (con *console) exec(ctx context.Context, line string) (exit bool, err error) {
	if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
		return false, nil
	}
	fields, err := splitLine(line)
	if err != nil {
		con.out.line("error: %v", err)
		return false, err
	}
	name := strings.ToLower(fields[0])
	if name == "exit" {
		return true, nil
	}
	for _, cmd := range commandTable() {
		if cmd.name == name {
			con.warnIfOffline(cmd.name)
			err := con.report(cmd, cmd.run(ctx, con, fields[1:]))
			if ctx.Err() != nil {
				err = nil
			}
			return false, err
		}
	}
	err = fmt.Errorf("unknown command %q", fields[0])
	con.out.line("error: %v; type help for the list", err)
	return false, err
}

// report prints why cmd failed with err, if it did, and returns err described for the exit
// status: a wrong argument also prints the command's synopsis.
func (con *console) report(cmd command, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errUsage):
		var bad badFlag
		if errors.As(err, &bad) {
			err = fmt.Errorf("%s: %w", cmd.name, bad.err)
			con.out.line("error: %v", err)
		} else {
			err = fmt.Errorf("%s: wrong arguments (usage: %s %s)", cmd.name, cmd.name, cmd.args)
		}
		con.out.line("usage: %s %s", cmd.name, cmd.args)
		return err
	}
	err = fmt.Errorf("%s: %w", cmd.name, describeRequest(err))
	con.out.line("error: %v", err)
	return err
}

// warnIfOffline tells, before a command that sends a request runs, that the connection is
// down: the SDK holds the request until the connection is back or client.DefaultRequestTimeout
// has passed.
func (con *console) warnIfOffline(name string) {
	if name == "help" || name == "sleep" {
		return
	}
	if state := con.client().State(); state != client.Connected {
		con.out.line("not connected to the server (%s); %s waits for it up to %s", state, name,
			client.DefaultRequestTimeout)
	}
}

// splitLine splits a command line into words as a shell does: words are separated by blanks;
// 'single quotes' keep everything up to the next ' as is; "double quotes" keep blanks, with
// \" and \\ standing for " and \; outside quotes, a backslash keeps the next character.
func splitLine(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
			continue
		case r == '\\':
			if i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
			}
		case r == '\'':
			closed := false
			for i++; i < len(rs); i++ {
				if rs[i] == '\'' {
					closed = true
					break
				}
				word.WriteRune(rs[i])
			}
			if !closed {
				return nil, errors.New("unterminated ' quote")
			}
		case r == '"':
			closed := false
			for i++; i < len(rs); i++ {
				if rs[i] == '"' {
					closed = true
					break
				}
				if rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
					i++
				}
				word.WriteRune(rs[i])
			}
			if !closed {
				return nil, errors.New(`unterminated " quote`)
			}
		default:
			word.WriteRune(r)
		}
		inWord = true
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

func cmdHelp(_ context.Context, con *console, _ []string) error {
	con.out.line("commands (CALL is a call ID, or an unambiguous beginning or end of one; quote an")
	con.out.line("argument that holds blanks: --data '{\"room\": \"r1\"}'; USERs that begin with - go after")
	con.out.line("--: invite -- -bob):")
	for _, cmd := range commandTable() {
		con.out.line("  %-8s %-55s %s", cmd.name, cmd.args, cmd.help)
	}
	return nil
}

// lineFlags parses a command's arguments, flags and positional ones interleaved.
func lineFlags(args []string, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	pos, help, err := parseArgs(fs, args)
	var fe flagError
	switch {
	case errors.As(err, &fe):
		return nil, badFlag(fe)
	case help || err != nil:
		return nil, errUsage
	}
	return pos, nil
}

func cmdInvite(ctx context.Context, con *console, args []string) error {
	var cfg client.InviteConfig
	var advanced bool
	users, err := lineFlags(args, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Timeout, "timeout", defaultRingSeconds, "")
		fs.BoolVar(&advanced, "advanced", false, "")
		fs.StringVar(&cfg.ExtendedData, "data", "", "")
		fs.BoolVar(&cfg.EnableNotReceivedCheck, "check", false, "")
	})
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return errUsage
	}
	if advanced {
		cfg.Mode = client.ModeAdvanced
	}
	res, err := con.client().CallInvite(ctx, users, cfg)
	if err != nil {
		return err
	}
	con.book.remember(res.CallID, res.CallInfo.CallUserList)
	con.out.event("call %s (%s) ringing %s for %ds — cancel %s", short(res.CallID), res.CallID,
		strings.Join(invited(users, res.ErrorUserList), ", "), res.Timeout, short(res.CallID))
	con.printErrorUsers(res.ErrorUserList)
	return nil
}

// invited returns the users asked for less those refused, each refusal taking away one entry
// (a user named twice is refused once, as a repeat).
func invited(users []string, refused []client.ErrorUserInfo) []string {
	out := slices.Clone(users)
	for _, e := range refused {
		if i := slices.Index(out, e.UserID); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

func (con *console) printErrorUsers(list []client.ErrorUserInfo) {
	for _, e := range list {
		con.out.line("  not invited: %s [%s]", e.UserID, codeText(e.Reason))
	}
}

func cmdCancel(ctx context.Context, con *console, args []string) error {
	args, err := lineFlags(args, func(*flag.FlagSet) {}) // no flags, but "--" as in invite
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errUsage
	}
	id, err := con.book.resolve(args[0])
	if err != nil {
		return err
	}
	res, err := con.client().CallCancel(ctx, id, args[1:], client.OpConfig{})
	if err != nil {
		return err
	}
	con.out.event("call %s: cancelled", short(id))
	if len(res.ErrorInvitees) > 0 {
		con.out.line("  not cancelled: %s", strings.Join(res.ErrorInvitees, ", "))
	}
	return nil
}

// oneCall resolves the single argument of a command that takes a call ID.
func (con *console) oneCall(args []string) (string, error) {
	if len(args) != 1 {
		return "", errUsage
	}
	return con.book.resolve(args[0])
}

// callOp returns the command of an operation that takes only a call ID.
func callOp(op string) func(context.Context, *console, []string) error {
	return func(ctx context.Context, con *console, args []string) error {
		id, err := con.oneCall(args)
		if err != nil {
			return err
		}
		if err := con.doCallOp(ctx, op, id); err != nil {
			return err
		}
		con.out.event("call %s: %s done", short(id), op)
		return nil
	}
}

// doCallOp sends one of the single-call operations.
func (con *console) doCallOp(ctx context.Context, op, id string) error {
	var err error
	switch op {
	case "accept":
		_, err = con.client().CallAccept(ctx, id, client.OpConfig{})
	case "reject":
		_, err = con.client().CallReject(ctx, id, client.OpConfig{})
	case "join":
		var res client.CallJoinResult
		if res, err = con.client().CallJoin(ctx, id, client.OpConfig{}); err == nil {
			con.book.remember(id, res.CallUserList)
		}
	case "quit":
		_, err = con.client().CallQuit(ctx, id, client.OpConfig{})
	case "end":
		_, err = con.client().CallEnd(ctx, id, client.OpConfig{})
	}
	return err
}

func cmdMore(ctx context.Context, con *console, args []string) error {
	var cfg client.CallingInviteConfig
	pos, err := lineFlags(args, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Timeout, "timeout", defaultRingSeconds, "")
		fs.StringVar(&cfg.ExtendedData, "data", "", "")
	})
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return errUsage
	}
	id, err := con.book.resolve(pos[0])
	if err != nil {
		return err
	}
	res, err := con.client().CallingInvite(ctx, id, pos[1:], cfg)
	if err != nil {
		return err
	}
	if ringing := invited(pos[1:], res.ErrorUserList); len(ringing) > 0 {
		con.out.event("call %s: also ringing %s", short(id), strings.Join(ringing, ", "))
	} else {
		con.out.event("call %s: nobody more invited", short(id))
	}
	con.printErrorUsers(res.ErrorUserList)
	return nil
}

func cmdList(ctx context.Context, con *console, args []string) error {
	if len(args) > 2 {
		return errUsage
	}
	nums := make([]int64, 2)
	for i, a := range args {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return badFlag{fmt.Errorf("%q is not a whole number ≥ 0", a)}
		}
		nums[i] = n
	}
	res, err := con.client().QueryCallInvitationList(ctx, int(nums[0]), nums[1])
	if err != nil {
		return err
	}
	if len(res.CallList) == 0 {
		con.out.line("no calls")
	}
	for _, ci := range res.CallList {
		con.book.remember(ci.CallID, ci.CallUserList)
		con.out.line("%s", summary(ci))
	}
	if res.NextFlag != 0 {
		con.out.line("more: list %d %d", max(nums[0], int64(len(res.CallList))), res.NextFlag)
	}
	return nil
}

// summary is one line describing a call.
func summary(ci client.CallInfo) string {
	users := make([]string, 0, len(ci.CallUserList))
	for _, u := range ci.CallUserList {
		users = append(users, u.UserID+":"+stateName(u.State))
	}
	return fmt.Sprintf("%s  %s  %-7s  %-8s  caller %s  %s  %s", short(ci.CallID), ci.CallID,
		callStateName(ci.State), modeName(ci.Mode), ci.Caller, clock(ci.CreateTime), strings.Join(users, " "))
}

// clock formats a server Unix-ms time as local "15:04:05", "-" for 0.
func clock(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).Format("15:04:05")
}

func cmdShow(ctx context.Context, con *console, args []string) error {
	id, err := con.oneCall(args)
	if err != nil {
		return err
	}
	ci, err := con.client().QueryCall(ctx, id)
	if err != nil {
		return err
	}
	con.book.remember(ci.CallID, ci.CallUserList)
	con.out.line("call %s: %s, %s mode, caller %s, created %s, ended %s, version %d",
		ci.CallID, callStateName(ci.State), modeName(ci.Mode), ci.Caller, clock(ci.CreateTime),
		clock(ci.EndTime), ci.Version)
	if ci.ExtendedData != "" {
		con.out.line("  data: %q", ci.ExtendedData)
	}
	for _, u := range ci.CallUserList {
		con.out.line("  %-20s %-14s inviter %-12s deadline %s accepted %s data %q", u.UserID,
			stateName(u.State), u.Inviter, clock(u.Deadline), clock(u.AcceptTime), u.ExtendedData)
	}
	return nil
}

// cmdSleep waits for the duration, ctx's end or the session's end, whichever comes first:
// the loop then sees a session that ended and returns its error.
func cmdSleep(ctx context.Context, con *console, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return badFlag{fmt.Errorf("%q is not a duration such as 2s", args[0])}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-con.client().Done():
	case <-timer.C:
	}
	return nil
}
