// Command dialtoned is the Dialtone call-invitation signalling server.
//
//	dialtoned --dev                 # zero-config: SQLite under ./.dialtone, 127.0.0.1:3425
//	dialtoned --secret S --data DIR # production; see --help for every flag
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dialtone/dialtone/internal/server"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel() // the first signal drains
		<-signals
		fmt.Fprintln(os.Stderr, "dialtoned: second signal: stopped at once, before the drain finished; "+
			"the sessions still open were cut, and their devices resume once a server runs again")
		os.Exit(1) // the second forces
	}()
	err := server.Run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "dialtoned:", err)
		os.Exit(1)
	}
}
