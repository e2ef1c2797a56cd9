package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// newFlagSet returns a flag set whose usage prints usage (a synopsis and a description) and
// then every flag with its default: to stdout when it was asked for (--help, -h), to stderr
// after the flag error the flag package printed there.
func newFlagSet(name, usage string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	errOut := &flagErrorOutput{w: stderr}
	fs.SetOutput(errOut)
	fs.Usage = func() {
		w := stdout
		if errOut.wrote {
			w = stderr
		}
		errOut.wrote = false
		fs.SetOutput(w)
		defer fs.SetOutput(errOut)
		fmt.Fprint(w, strings.TrimLeft(usage, "\n"))
		fmt.Fprintln(w, "\nFlags:")
		hideCredentialDefaults(fs)
		fs.PrintDefaults()
	}
	return fs
}

// hideCredentialDefaults keeps the usage from printing the defaults of --secret and --token,
// which DIALTONE_SECRET and DIALTONE_TOKEN set: a usage shown on a terminal, or kept in a
// script's log after a flag error, must not hold a credential. The flags' values stay.
func hideCredentialDefaults(fs *flag.FlagSet) {
	for _, name := range []string{"secret", "token"} {
		if f := fs.Lookup(name); f != nil {
			f.DefValue = ""
		}
	}
}

// flagErrorOutput is the output of a flag set outside its usage: only the flag package's
// error messages, which it writes to w. wrote tells the usage that one was printed.
type flagErrorOutput struct {
	w     io.Writer
	wrote bool
}

func (o *flagErrorOutput) Write(p []byte) (int, error) {
	o.wrote = true
	return o.w.Write(p)
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
		if stoppedAtDashes(fs, args[:len(args)-len(rest)]) {
			return append(positional, rest...), false, nil
		}
		if len(rest) == 0 {
			return positional, false, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// stoppedAtDashes reports whether fs.Parse stopped at a "--", which it drops, rather than at a
// positional argument, given the arguments it consumed: flags, their values and maybe a last
// "--" that is no flag's value (--data -- takes "--" as the value of --data).
func stoppedAtDashes(fs *flag.FlagSet, consumed []string) bool {
	for i := 0; i < len(consumed); i++ {
		if consumed[i] == "--" {
			return true
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(consumed[i], "-"), "=")
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) {
			i++ // the next argument is the flag's value
		}
	}
	return false
}

// isBoolFlag reports whether f takes no value argument (--advanced, not --advanced true).
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
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

// checkURL refuses a --url that names no server endpoint the SDK can dial (a scheme ws, wss,
// http or https, and a host): every connection would fail with what the WebSocket library says
// of it, and a bench workload that reports failed logins as errors (idle) would report them
// instead of the mistake.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("--url %q: %w", raw, err)
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("--url %q: the scheme must be ws, wss, http or https", raw)
	case u.Host == "":
		return fmt.Errorf("--url %q: no host", raw)
	}
	return nil
}
