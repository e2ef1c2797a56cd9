package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/protocol"
	"github.com/golang-jwt/jwt/v5"
)

// connFlags are the flags that log one device of one user in: client and watch share them.
type connFlags struct {
	url, user, device string
	token, secret     string
	audience          string
	ttl               time.Duration
	loginTimeout      time.Duration
	conflict          string // flags that cannot go together, set by settle
}

// register adds the connection flags to fs; device is the default deviceID.
func (cf *connFlags) register(fs *flag.FlagSet, device string) {
	fs.StringVar(&cf.url, "url", envOr("DIALTONE_URL", defaultURL), "server WebSocket URL (env DIALTONE_URL)")
	fs.StringVar(&cf.user, "user", "", "userID to log in as (required; a --token must be for this user)")
	fs.StringVar(&cf.device, "device", device, "deviceID of this client")
	fs.StringVar(&cf.token, "token", envOr("DIALTONE_TOKEN", ""), "login token (env DIALTONE_TOKEN); or give --secret")
	fs.StringVar(&cf.secret, "secret", envOr("DIALTONE_SECRET", ""),
		"the server's token secret: the client mints its own token (env DIALTONE_SECRET)")
	fs.StringVar(&cf.audience, "audience", envOr("DIALTONE_AUDIENCE", ""),
		"aud claim of the minted token (with --secret; env DIALTONE_AUDIENCE)")
	fs.DurationVar(&cf.ttl, "ttl", 24*time.Hour, "lifetime of each minted token (with --secret; a new one is minted for each reconnection)")
	fs.DurationVar(&cf.loginTimeout, "login-timeout", 30*time.Second, "how long the connect and login may take")
}

// loginContext returns ctx bounded by --login-timeout, for the first connect and login.
func (cf *connFlags) loginContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return withLoginTimeout(ctx, cf.loginTimeout)
}

// withLoginTimeout returns ctx bounded by d, the --login-timeout of a connect and login; its
// cause names the flag (see timedOut).
func withLoginTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d,
		fmt.Errorf("no login within --login-timeout %s: %w", d, context.DeadlineExceeded))
}

// timedOut adds to err the cause of ctx's end when it is --login-timeout.
func timedOut(ctx context.Context, err error) error {
	if ctx.Err() != nil && context.Cause(ctx) != ctx.Err() {
		return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return err
}

// settle applies to --token and --secret the rule that flags win over the environment: a
// --secret given on the command line without --token is used even when DIALTONE_TOKEN is set.
// It runs once fs is parsed.
// A --token given with --secret, --audience or --ttl, which apply to minted tokens only, is a
// conflict, which loginToken reports: one of them would be silently ignored.
func (cf *connFlags) settle(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["secret"] && !set["token"] {
		cf.token = ""
	}
	if set["token"] {
		for _, name := range []string{"secret", "audience", "ttl"} {
			if set[name] {
				cf.conflict = "give --token or --" + name + ", not both: --" + name + " applies to the token the client mints, when no --token is given"
				break
			}
		}
	}
}

// loginToken returns --token, or a token minted with --secret.
func (cf *connFlags) loginToken() (string, error) {
	switch {
	case cf.user == "":
		return "", errors.New("--user is required")
	case !auth.ValidUserID(cf.user):
		return "", fmt.Errorf("--user %q is not a valid userID: 1 to %d ASCII letters, digits and !#$%%&()+-:;<=.>?@[]^_{}|~", cf.user, auth.MaxUserIDBytes)
	case !auth.ValidDeviceID(cf.device):
		return "", fmt.Errorf("--device %q is not a valid deviceID: 1 to %d characters of a userID's", cf.device, auth.MaxDeviceIDBytes)
	}
	if cf.loginTimeout <= 0 {
		return "", errors.New("--login-timeout must be positive")
	}
	if cf.conflict != "" {
		return "", errors.New(cf.conflict)
	}
	if cf.token != "" {
		// The server verifies the token; this only catches a token minted for someone else,
		// which would log in as them.
		var claims jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(cf.token, &claims); err == nil &&
			claims.Subject != "" && claims.Subject != cf.user {
			return "", fmt.Errorf("the token (--token or DIALTONE_TOKEN) is for user %q, not --user %q", claims.Subject, cf.user)
		}
		return cf.token, nil
	}
	if cf.secret == "" {
		return "", errors.New("give --token, or --secret to mint one")
	}
	return mintToken(cf.secret, cf.user, cf.ttl, cf.audience)
}

// dial checks the login flags and connects with opts; the caller closes the client. ctx
// should come from loginContext.
func (cf *connFlags) dial(ctx context.Context, opts client.Options) (*client.Client, error) {
	if err := checkURL(cf.url); err != nil {
		return nil, err
	}
	if _, err := cf.loginToken(); err != nil {
		return nil, err
	}
	if cf.token == "" {
		// Each reconnection logs in with a token minted then: a session outlives --ttl.
		opts.TokenSource = func(context.Context) (string, error) {
			return mintToken(cf.secret, cf.user, cf.ttl, cf.audience)
		}
	}
	c, err := client.Dial(ctx, cf.url, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cf.url, timedOut(ctx, err))
	}
	return c, nil
}

// login logs c in as --user on --device; ctx should come from loginContext.
func (cf *connFlags) login(ctx context.Context, c *client.Client) (client.LoginResult, error) {
	tok, err := cf.loginToken()
	if err != nil {
		return client.LoginResult{}, err
	}
	res, err := c.Login(ctx, tok, cf.device)
	if err != nil {
		return res, fmt.Errorf("login as %s: %w", cf.user, timedOut(ctx, cf.explain(describe(err))))
	}
	return res, nil
}

// explain adds to err, a refused login or the end of a session, what the kick's reason or the
// server's refusal does not say: that another client took over the device, that --token has
// expired, or else which flags must match the server (the refusal says only "authentication
// failed").
func (cf *connFlags) explain(err error) error {
	var kick *client.KickError
	if errors.As(err, &kick) && kick.Reason == protocol.KickReplaced {
		return fmt.Errorf("%w: another client logged in as %s on the same --device %q; give each client its own --device",
			err, cf.user, cf.device)
	}
	refused := client.Code(err) == client.CodeAuthFailed ||
		errors.As(err, &kick) && kick.Reason == protocol.KickAuthFailed
	if !refused {
		return err
	}
	if cf.token == "" {
		return fmt.Errorf("%w (check that --secret is the server's --secret, and --audience its --audience)", err)
	}
	var claims jwt.RegisteredClaims
	if _, _, perr := jwt.NewParser().ParseUnverified(cf.token, &claims); perr != nil ||
		claims.ExpiresAt == nil || claims.ExpiresAt.After(time.Now()) {
		return fmt.Errorf("%w (check that --token was minted with the server's --secret and --audience)", err)
	}
	return fmt.Errorf("%w (the --token expired at %s)", err, claims.ExpiresAt.Local().Format(time.DateTime))
}

// codeNames names the wire error codes for people.
var codeNames = map[client.ErrorCode]string{
	client.CodeInvalidParameter: "invalid parameter",
	client.CodeUnknownOp:        "unknown operation",
	client.CodeNotLoggedIn:      "not logged in",
	client.CodeInternal:         "internal server error, retry",
	client.CodeCancelAccepted:   "someone already accepted",
	client.CodeTooManyUsers:     "too many users",
	client.CodeNotInviter:       "you did not invite them",
	client.CodeStateForbids:     "your state in the call does not allow this",
	client.CodeCallUnavailable:  "call unknown, ended, or the invitation timed out",
	client.CodeNoValidInvitee:   "no valid invitee",
	client.CodeAlreadyActive:    "already active",
	client.CodeNotAdvanced:      "not an advanced-mode call",
	client.CodeBusy:             "busy in another call",
	client.CodeAuthFailed:       "authentication failed",
	client.CodeRateLimited:      "rate limited",
	client.CodeTooManyDevices:   "too many devices",
}

// describe adds the meaning of err's wire code, if any (the SDK's message has the number) and
// the server's message does not say it already.
func describe(err error) error {
	if name, ok := codeNames[client.Code(err)]; ok && !strings.Contains(err.Error(), name) {
		return fmt.Errorf("%w (%s)", err, name)
	}
	return err
}

// describeRequest is describe for the request of an interactive command, which the SDK bounds
// with client.DefaultRequestTimeout: one that timed out is said to be unanswered.
func describeRequest(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (no answer from the server within %s)", err, client.DefaultRequestTimeout)
	}
	return describe(err)
}

// codeText is "6000274: your state in the call does not allow this".
func codeText(code client.ErrorCode) string {
	if name, ok := codeNames[code]; ok {
		return fmt.Sprintf("%d: %s", code, name)
	}
	return fmt.Sprint(int(code))
}

// stateNames names call user states as behaviour §2 does.
var stateNames = map[client.CallUserState]string{
	client.StateUnknown:        "Unknown",
	client.StateInviting:       "Inviting",
	client.StateAccepted:       "Accepted",
	client.StateRejected:       "Rejected",
	client.StateCancelled:      "Cancelled",
	client.StateReceived:       "Received",
	client.StateTimeout:        "Timeout",
	client.StateQuit:           "Quit",
	client.StateEnded:          "Ended",
	client.StateNotYetReceived: "NotYetReceived",
	client.StateBeCancelled:    "BeCancelled",
}

func stateName(s client.CallUserState) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

func callStateName(s client.CallState) string {
	switch s {
	case client.CallStarted:
		return "Started"
	case client.CallEnded:
		return "Ended"
	}
	return fmt.Sprintf("CallState(%d)", int(s))
}

func modeName(m client.CallMode) string {
	if m == client.ModeAdvanced {
		return "advanced"
	}
	return "general"
}
