// Package server wires Dialtone together: configuration, store, switchboard, bus, endpoints,
// and the graceful drain. cmd/dialtoned calls Run; tests run the real server in-process with it
// (port 0, a temporary data directory).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/clientip"
	"github.com/dialtone/dialtone/internal/config"
	"github.com/dialtone/dialtone/internal/httpapi"
	"github.com/dialtone/dialtone/internal/localbus"
	"github.com/dialtone/dialtone/internal/metrics"
	"github.com/dialtone/dialtone/internal/restapi"
	"github.com/dialtone/dialtone/internal/sqlite"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wsapi"
	"github.com/dialtone/dialtone/protocol"
	"github.com/dialtone/dialtone/web"
)

// drainTimeout bounds how long a graceful shutdown waits for sessions to close.
const drainTimeout = 10 * time.Second

// HTTP requests (docs/api.md): a request is read within readTimeout (of the connection's
// opening for its first request, of its first byte for a later one on a kept-alive connection),
// and its answer written within writeTimeout of its headers, which leaves an answer to a body
// cut off by readTimeout the time to be written.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = readTimeout + 5*time.Second
)

// Run starts the server from args (dialtoned's flags) and environment and serves until ctx is
// cancelled, then drains: it stops accepting, finishes in-flight commits, kicks sessions with
// shutdown and closes the store. A listener that fails drains too, and Run then returns its
// error. ready, when not nil, receives the listening address once serving. It returns
// flag.ErrHelp after printing the usage for --help, and nil when ctx is cancelled before it
// serves (a signal during start-up), having closed what it opened.
//
// environ is the environment, in os.Environ's "NAME=value" form. At start Run logs a WARN for
// each DIALTONE_ variable in it that names no setting (config.UnknownEnv): a misspelt variable
// leaves its setting at the default, and the server runs on. The WARNs come also when the
// configuration is refused (at the default log level), since a misspelt variable may be why.
func Run(ctx context.Context, args, environ []string, stdout, stderr io.Writer, ready func(addr string)) (err error) {
	defer func() {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = nil // stopped before it served: no failure
		}
	}()
	cfg, err := config.Parse(args, lookupIn(environ), stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			warnUnknownEnv(newLogger(config.Defaults(false).LogLevel, stderr), environ)
		}
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	warnUnknownEnv(log, environ)

	// The files the settings name are read before the data is touched, so that one the server
	// cannot use stops it before it opens the store and fires the deadlines that passed.
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	pushes, err := loadPushes(cfg)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	bus := localbus.New()
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "dialtone.db"),
		sqlite.Options{Logger: log, Publish: bus.Publish, ObserveBatch: m.CommitBatch})
	if errors.Is(err, sqlite.ErrInUse) {
		return fmt.Errorf("--data %s is in use by another dialtoned; one server per data directory: %w", cfg.DataDir, err)
	}
	if err != nil { // a directory the server cannot write, or a file that is no database of its own
		return fmt.Errorf("--data %s: cannot open its database: %w", cfg.DataDir, err)
	}
	defer store.Close()

	verifier, err := auth.NewVerifier([]byte(cfg.Secret), cfg.Audience)
	if err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	boardCfg := switchboardConfig(cfg)
	boardCfg.ObserveCommit = m.Commit
	boardCfg.ObserveDeadline = m.Deadline
	deliver := &delivery{}
	boardCfg.Webhooks = deliver.addWebhooks(cfg, store, m, log)
	var ws *wsapi.Server // set below, before the delivery workers start
	boardCfg.Pushes = deliver.addPushes(pushes, cfg.PushExpiry, func(user string) bool { return ws.Connected(user) },
		store, m, log)
	boardCfg.OutboxWritten = deliver.notify
	board := switchboard.New(boardCfg, store, time.Now, log)
	if err := board.Start(ctx); err != nil { // its deadlines or busy users could not be read: a damaged database
		return fmt.Errorf("--data %s: %w", cfg.DataDir, err)
	}
	defer board.Close()

	trusted, err := clientip.Parse(cfg.TrustedProxies)
	if err != nil { // validated by config
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	ws = wsapi.New(wsapi.Config{
		HeartbeatInterval:       cfg.HeartbeatInterval,
		HeartbeatTimeout:        cfg.HeartbeatTimeout,
		LoginTimeout:            cfg.LoginTimeout,
		MaxDevicesPerUser:       cfg.MaxDevicesPerUser,
		MaxRequestsPerSecond:    cfg.MaxRequestsPerSecond,
		MaxInvitesPerMinute:     cfg.MaxInvitesPerMinute,
		MaxUnauthenticatedPerIP: cfg.MaxUnauthenticatedPerIP,
		TrustedProxies:          trusted,
		ValidDeviceID:           auth.ValidDeviceID,
		Observer:                m,
		PushTargets:             store,
		RememberUsers:           cfg.Dev, // the demo page's user list
	}, board, bus, verifier, time.Now, log)
	registerGauges(reg, ws, board, store)
	deliver.start()
	defer deliver.stop()

	var serving atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET "+protocol.Path, ws)
	httpapi.Routes(mux, readiness(&serving, store))
	handler := restapi.Routes(mux, restapi.Config{APIKey: cfg.APIKey, ValidUserID: auth.ValidUserID, Backend: board,
		Sessions: ws, PushTargets: store, Log: log})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	httpapi.Web(mux, web.Files())
	if cfg.Dev { // the demo page's token and user list (httpapi.DevRoutes); never outside --dev
		httpapi.DevRoutes(mux, func(user string) (string, error) {
			return auth.Mint([]byte(cfg.Secret), user, 24*time.Hour, time.Now(), cfg.Audience)
		}, ws.Users)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	// A client that sends slowly or reads nothing is cut off by the read and write timeouts, so
	// it holds no connection for ever; an idle keep-alive connection is closed after a minute.
	// WebSocket connections are hijacked with their deadlines cleared, and keep their own
	// timeouts (heartbeat, login).
	srv := &http.Server{Handler: handler, ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: time.Minute,
		ErrorLog: stdlog.New(httpErrorLog{log}, "", 0)}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	serving.Store(true)

	addr := ln.Addr().String()
	log.Info("dialtoned listening", "addr", addr, "data", absPath(cfg.DataDir), "dev", cfg.Dev)
	if cfg.Dev {
		printDevHelp(stdout, cfg, addr)
	}
	if ready != nil {
		ready(addr)
	}

	// A listener that fails ends the server as a signal does, by the drain, so that none of
	// the sessions it serves runs on over the switchboard and store closed below.
	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		serveErr = fmt.Errorf("serve: %w", err)
		log.Error("serving failed; draining", "err", err)
	}
	log.Info("draining")
	serving.Store(false)
	board.Drain() // the sessions the drain ends are not lost devices (R6.1)
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	// Stop accepting and wait for the HTTP requests in flight while the WebSocket sessions,
	// hijacked and unknown to srv, are drained: a request that holds on (a body that never
	// comes) must not hold back every session's shutdown kick until the drain time runs out.
	httpDone := make(chan struct{})
	go func() {
		_ = srv.Shutdown(drainCtx)
		close(httpDone)
	}()
	// Kick every session with shutdown while the switchboard still takes ops, so that a request
	// in flight is carried out and answered before its session's kick rather than refused with
	// 6000270; a request that arrives once the drain began is not taken (the SDK sends it again
	// once reconnected). A session that opens meanwhile is refused by the draining ws.
	ws.Shutdown(drainCtx)
	<-httpDone
	board.Close()  // refuse new ops, finish the commits in flight, stop the timers
	deliver.stop() // undelivered webhooks and pushes stay in the outbox
	if err := store.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return errors.Join(serveErr, fmt.Errorf("close store: %w", err))
	}
	log.Info("stopped")
	return serveErr
}

// httpErrorLog writes the lines of Go's HTTP server to the log: at WARN, except a TLS
// handshake that ended before it began (EOF: a load balancer's TCP health check, a port scan),
// which is routine and DEBUG, so that it does not bury the handshake errors worth a look.
type httpErrorLog struct{ log *slog.Logger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error from ") && strings.HasSuffix(msg, ": EOF") {
		level = slog.LevelDebug
	}
	h.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// readSettingFile returns the content of path, the file that the setting name (a flag without
// its dashes) names; the error names the flag, and says so of an empty file (a secret mount not
// filled in yet, a truncated copy) rather than what a parser says of no input.
func readSettingFile(name, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--%s: %w", name, err)
	case len(data) == 0:
		return nil, fmt.Errorf("--%s: %s is empty", name, path)
	}
	return data, nil
}

// loadTLS reads the certificate and key of --tls-cert and --tls-key (once: a renewal takes a
// restart); nil without them.
func loadTLS(cfg config.Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	certPEM, err := readSettingFile("tls-cert", cfg.TLSCert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readSettingFile("tls-key", cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// registerGauges exposes the components' own counts as metrics.
func registerGauges(reg prometheus.Registerer, ws *wsapi.Server, board *switchboard.Switchboard, store *sqlite.Store) {
	metrics.Gauge(reg, "dialtone_sessions", "Open WebSocket connections.", func() float64 { return float64(ws.Sessions()) })
	metrics.Gauge(reg, "dialtone_deadlines_pending", "Calls with a ring deadline or not-received check scheduled.",
		func() float64 { return float64(board.PendingDeadlines()) })
	metrics.Gauge(reg, "dialtone_store_writable",
		"1 while the database takes writes, 0 while its last write failed (no space, an I/O error, a read-only file system, the file removed) and since a write or read met damaged pages (see /readyz for which).",
		func() float64 {
			if store.Fault() != nil {
				return 0
			}
			return 1
		})
}

// errNotServing is /readyz's reason before the listener opens and while draining.
var errNotServing = errors.New("not serving (starting or draining)")

// readiness is /readyz's check: the server takes traffic while it serves and its database
// takes writes (sqlite.Store.Writable, which may probe the disk once a failure is a few
// seconds old); otherwise every operation would fail with 6000270.
func readiness(serving *atomic.Bool, store *sqlite.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		if !serving.Load() {
			return errNotServing
		}
		return store.Writable(ctx)
	}
}

func switchboardConfig(cfg config.Config) switchboard.Config {
	policy := call.JoinMembers
	if cfg.JoinPolicy == config.JoinAnyone {
		policy = call.JoinAnyone
	}
	return switchboard.Config{
		Call: call.Config{MaxCallUsers: cfg.MaxCallUsers, JoinPolicy: policy,
			NotReceivedCheckMs: cfg.NotReceivedCheck.Milliseconds()},
		IdempotencyWindow: cfg.IdempotencyWindow,
		HeartbeatTimeout:  cfg.HeartbeatTimeout,
		LogRetention:      cfg.LogRetention,
		CallRetention:     cfg.CallRetention,
	}
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// absPath returns dir as an absolute path, which names the directory without the process's
// working directory, or dir as it is when that cannot be found.
func absPath(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// printDevHelp prints ready-to-use tokens for demo users and the commands to try.
func printDevHelp(w io.Writer, cfg config.Config, addr string) {
	scheme := "ws"
	if cfg.TLSCert != "" {
		scheme = "wss"
	}
	url := scheme + "://" + addr + protocol.Path
	fmt.Fprintf(w, "\nDialtone dev server on %s (data in %s)\n\nDemo tokens (valid 24h):\n", url, absPath(cfg.DataDir))
	for _, user := range []string{"alice", "bob", "carol"} {
		token, err := auth.Mint([]byte(cfg.Secret), user, 24*time.Hour, time.Now(), cfg.Audience)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  %-6s %s\n", user, token)
	}
	fmt.Fprintf(w, "\nIn a browser: open %s://%s/ in two tabs, one per user.\n", map[string]string{"ws": "http", "wss": "https"}[scheme], addr)
	credentials := "--secret " + shellQuote(cfg.Secret)
	if cfg.Audience != "" {
		credentials += " --audience " + shellQuote(cfg.Audience)
	}
	fmt.Fprintf(w, "\nTry it:\n  go run ./cmd/dialtone client --url %s --user alice %s\n", url, credentials)
	fmt.Fprintf(w, "  go run ./cmd/dialtone client --url %s --user bob %s\n\n", url, credentials)
}

// shellQuote returns s as one word of a POSIX shell: as it is when it holds only characters
// no shell reads specially, else in single quotes, each quote of it ended, escaped and begun again.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// warnUnknownEnv logs a WARN for each DIALTONE_ variable of environ that names no setting
// (config.UnknownEnv), with the setting's variable it most likely misspells.
func warnUnknownEnv(log *slog.Logger, environ []string) {
	for _, v := range config.UnknownEnv(environ) {
		attrs := []any{"name", v.Name}
		if v.Closest != "" {
			attrs = append(attrs, "didYouMean", v.Closest)
		}
		log.Warn("environment variable names no setting and is ignored", attrs...)
	}
}

// lookupIn returns a getenv over environ ("NAME=value" entries): the first of duplicates wins,
// as in os.Getenv.
func lookupIn(environ []string) func(string) string {
	vars := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if _, seen := vars[name]; ok && !seen {
			vars[name] = value
		}
	}
	return func(name string) string { return vars[name] }
}
