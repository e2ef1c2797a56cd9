package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlagSet returns a flag set whose usage prints usage (a synopsis and a description) and
// then every flag with its default.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(usage, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses args with flags and positional arguments interleaved ("token alice
// --secret S" as well as "token --secret S alice"); "--" ends the flags. help is true when
// --help was asked for (the usage is then printed). A flag error is printed with the usage
// and returned as a flagError, which is errReported.
func parseArgs(fs *flag.FlagSet, args []string) (positional []string, help bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, false, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), false, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagError is an error of the flag package, which the flag set printed with its usage: it is
// errReported.
type flagError struct{ err error }

func (e flagError) Error() string        { return e.err.Error() }
func (e flagError) Is(target error) bool { return target == errReported }

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// defaultURL is the development server's endpoint.
const defaultURL = "ws://127.0.0.1:3425/v1/ws"
