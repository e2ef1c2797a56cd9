// Command dialtone is the command-line tool of Dialtone, the self-hosted call-invitation
// signalling server. It mints login tokens, runs an interactive terminal client, prints one
// device's events as JSON lines, and load-tests a server:
//
//	dialtone token --secret S alice
//	dialtone client --url ws://127.0.0.1:3425/v1/ws --user alice --secret S
//	dialtone watch --url ws://127.0.0.1:3425/v1/ws --user bob --token T
//	dialtone bench lifecycle|idle|timers --url ws://127.0.0.1:3425/v1/ws --secret S …
//
// It talks to the server only through the public Go SDK (package client); package
// internal/auth is used to mint tokens. Every subcommand documents its flags with --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "dialtone:", err)
		}
		os.Exit(1)
	}
}

// errReported is returned when the error was already printed (for example a flag error,
// which the flag package prints with the usage).
var errReported = errors.New("error already reported")

const mainUsage = `dialtone — command-line tool of the Dialtone call-invitation server

Usage:
  dialtone token  [flags] USER     mint a login token for USER
  dialtone client [flags]          interactive terminal client (commands on stdin)
  dialtone watch  [flags]          print the events one device of a user receives, as JSON lines
  dialtone bench  WORKLOAD [flags] load-test a server: lifecycle, idle or timers
  dialtone help [COMMAND]          this text, or the help of COMMAND

Run "dialtone COMMAND --help" for the flags of a command. Flags take one or two dashes.
The development server (dialtoned --dev) listens on ws://127.0.0.1:3425/v1/ws and signs
tokens with the secret "dialtone-dev-secret".

Environment: DIALTONE_URL (default of --url), DIALTONE_SECRET (default of --secret),
DIALTONE_AUDIENCE (default of --audience), DIALTONE_TOKEN (default of --token). The server's
DIALTONE_SECRET and DIALTONE_AUDIENCE thus serve both.

Exit status: 0 on success, and when client or watch is stopped (exit, the end of stdin,
Ctrl-C); 1 on an error, such as a bad flag or argument, a refused login or a session the
server ended, and when a command of client failed (it goes on with the next, as a shell
runs a script).
`

// subcommand is one command of the program: it parses args (what follows its name) and runs.
type subcommand func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// run is the whole program: it parses args (without the program name), reads commands from
// stdin where a subcommand does, and writes to stdout and stderr. It returns when the
// subcommand is done or ctx is cancelled.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "dialtone", mainUsage, map[string]subcommand{
		"token": func(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
			return runToken(args, stdout, stderr)
		},
		"client": runClient,
		"watch": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
			return runWatch(ctx, args, stdout, stderr)
		},
		"bench": runBench,
	}, args, stdin, stdout, stderr)
}

// dispatch runs the command args[0] of cmds, or prints usage for help or no command; "help
// COMMAND" runs "COMMAND --help".
func dispatch(ctx context.Context, name, usage string, cmds map[string]subcommand, args []string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errReported
	}
	if isHelp(args[0]) {
		switch {
		case len(args) == 1 || len(args) == 2 && isHelp(args[1]):
			fmt.Fprint(stdout, usage)
			return nil
		case len(args) == 2:
			args = []string{args[1], "--help"}
		default:
			return fmt.Errorf("help takes one COMMAND at most (run %s --help)", name)
		}
	}
	if cmd, ok := cmds[args[0]]; ok {
		return cmd(ctx, args[1:], stdin, stdout, stderr)
	}
	if strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("the command goes before its flags, and %s is a flag (run %s --help)", args[0], name)
	}
	return fmt.Errorf("unknown command %q (run %s --help)", args[0], name)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}
