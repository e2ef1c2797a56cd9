package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/servertest"
)

// highLimits lift the server's rate limits for tests that make many requests.
var highLimits = []string{"--max-invites-per-minute", "100000", "--max-requests-per-second", "100000"}

func TestClientRingsAcceptsAndLists(t *testing.T) {
	srv := servertest.Start(t)
	bob := startCLI(t, "client", "--url", srv.URL, "--user", "bob", "--secret", servertest.Secret)
	bob.waitFor(`logged in as bob`)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--token", servertest.Token(t, "alice"))
	alice.waitFor(`logged in as alice`)

	alice.send("invite bob --advanced --timeout 60")
	m := alice.waitFor(`call (\S+) \((\S+)\) ringing bob for 60s`)
	short, full := m[1], m[2]
	ring := bob.waitFor(`☎ alice is calling you \(call (\S+), advanced, \d+s left\) — accept (\S+) / reject`)
	if ring[1] != short || !strings.HasSuffix(full, ring[2]) {
		t.Fatalf("bob rang for call %q (accept %q), alice created %q", ring[1], ring[2], full)
	}
	bob.send("accept " + ring[2])
	alice.waitFor(`call ` + short + `: bob (Inviting|Received) → Accepted`)

	alice.send("list")
	alice.waitFor(short + `  ` + full + `  Started .* bob:Accepted`)
	alice.send("show " + full[:len(full)-3]) // a beginning works as well as an end
	alice.waitFor(`(?m)^  bob +Accepted`)

	alice.send("frobnicate")
	alice.waitFor(`error: unknown command "frobnicate"; type help`)
	alice.send("accept")
	alice.waitFor(`usage: accept CALL`)
	alice.send("accept " + short)
	alice.waitFor(`error: accept: .*6000274`)
	alice.send("help")
	alice.waitFor(`(?m)^  more +CALL USER…`)

	alice.send("end " + short)
	bob.waitFor(`call ` + short + ` ended by alice`)
	alice.send("exit")
	// The three commands that failed above make the exit status 1.
	if err := alice.wait(); err == nil || !strings.Contains(err.Error(), "3 commands failed (the first on line 4:") {
		t.Fatalf("exit: %v, want the three failed commands", err)
	}
}

func TestClientRefusesABadLogin(t *testing.T) {
	srv := servertest.Start(t)
	_, _, err := runOnce(t, "client", "--url", srv.URL, "--user", "alice", "--secret", "wrong-secret-0123456789")
	if client.Code(err) != client.CodeAuthFailed {
		t.Fatalf("err = %v, want code %d", err, client.CodeAuthFailed)
	}
	if _, _, err := runOnce(t, "client", "--url", srv.URL, "--user", "alice"); err == nil {
		t.Fatal("a client without --token or --secret started")
	}
}

func TestCallBookResolvesPrefixes(t *testing.T) {
	b := newCallBook()
	b.remember("abcdef123", nil)
	b.remember("abcxyz456", nil)
	for ref, want := range map[string]string{"abcd": "abcdef123", "abcx": "abcxyz456",
		"abcdef123": "abcdef123", "zzz": "zzz", "123": "abcdef123", "z456": "abcxyz456"} {
		if got, err := b.resolve(ref); err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := b.resolve("abc"); err == nil {
		t.Error("an ambiguous prefix resolved")
	}
}

// The short name the client prints for a call stays usable when calls are created within the
// same seconds (call IDs begin with their creation time).
func TestClientShortNamesOfCallsMadeTogether(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	for _, callee := range []string{"bob", "carol", "dave"} {
		alice.send("invite " + callee)
		m := alice.waitFor(`call (\S+) \((\S+)\) ringing ` + callee + ` for 30s — cancel (\S+)`)
		alice.send("cancel " + m[3])
		if r := alice.waitFor(`call ` + m[1] + `: cancelled|error: cancel: (.*)`); r[1] != "" {
			t.Errorf("cancel %s by its printed name: %s", m[2], r[0])
		}
	}
}

// With --secret, the client and the watch mint a fresh token for each reconnection: a server
// restarted after the first token expired lets them back in instead of ending their session.
func TestReconnectionAfterTheTokenExpired(t *testing.T) {
	srv := servertest.Start(t)
	c := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret, "--ttl", "1s")
	c.waitFor(`logged in as alice`)
	w := startCLI(t, "watch", "--url", srv.URL, "--user", "bob", "--secret", servertest.Secret, "--ttl", "1s")
	w.waitFor(`"state":"Connected"`)

	// A token minted now expires no sooner than theirs: wait until the server would refuse it.
	later, err := auth.Mint([]byte(servertest.Secret), "alice", time.Second, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier([]byte(servertest.Secret), "")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := v.Verify(later, time.Now()); err != nil {
			break
		}
		time.Sleep(time.Second)
	}

	srv.Stop()
	servertest.StartOn(t, srv.Data, "--listen", srv.Addr)
	c.waitFor(`connection Connected`)
	w.waitFor(`(?s)"state":"Reconnecting".*"state":"Connected"`)
	c.send("list")
	c.waitFor(`no calls`)
}

// A command's arguments may be quoted as in a shell, so that --data can hold spaces (JSON,
// for example); an unterminated quote is refused without sending anything.
func TestClientQuotedArguments(t *testing.T) {
	srv := servertest.Start(t)
	bob := startCLI(t, "client", "--url", srv.URL, "--user", "bob", "--secret", servertest.Secret)
	bob.waitFor(`logged in as bob`)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)

	alice.send(`invite bob --data "hello world`)
	alice.waitFor(`error: unterminated " quote`)
	alice.send(`invite bob --data '{"room": "r1"}'`)
	m := alice.waitFor(`call (\S+) \(\S+\) ringing (.*) for 30s`)
	if m[2] != "bob" {
		t.Errorf("invite rang %q, want bob", m[2])
	}
	bob.waitFor(`☎ alice is calling you \(call ` + m[1])
	bob.waitFor(`(?m)^  data: "\{\\"room\\": \\"r1\\"\}"$`)
	alice.send(`cancel ` + m[1])
	alice.waitFor(`call ` + m[1] + `: cancelled`)

	alice.send(`invite bob --data "say \"hi\" to\\ all" --timeout 20`)
	m = alice.waitFor(`call (\S+) \(\S+\) ringing (.*) for 20s`)
	if m[2] != "bob" {
		t.Errorf("invite rang %q, want bob", m[2])
	}
	bob.waitFor(`(?m)^  data: "say \\"hi\\" to\\\\ all"$`)
	if strings.Contains(alice.out.String(), "not invited") {
		t.Errorf("some words were taken for invitees:\n%s", alice.out.String())
	}
}

// After "--" every argument is a USER, those that begin with "-" included (behaviour §1
// allows them), however many follow, in invite as in cancel.
func TestClientUsersAfterDoubleDash(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	alice.send(`invite --timeout 20 -- -bob --carol -- --timeout`)
	m := alice.waitFor(`call (\S+) \(\S+\) ringing (.*) for 20s|error: .*`)
	if m[2] != "-bob, --carol, --, --timeout" {
		t.Errorf("invite -- rang %q (%s), want -bob, --carol, --, --timeout", m[2], m[0])
	}
	alice.send(`cancel ` + m[1] + ` -- -bob -nobody`)
	alice.waitFor(`call ` + m[1] + `: cancelled`)
	alice.waitFor(`(?m)^  not cancelled: -nobody$`)
}

// A line too long to be a command is refused, and the client reads on; it used to end the
// client as if stdin had ended.
func TestClientRefusesAnOverlongLine(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	// Typed by another goroutine: a client that stopped reading would block the typing.
	go fmt.Fprint(alice.in, "invite bob --data "+strings.Repeat("x", 100_000)+"\nlist\n")
	alice.waitFor(`error: line longer than \d+ bytes ignored`)
	alice.waitFor(`no calls`)
}

// A --token minted for another user than --user is refused before connecting; the client
// and the watch logged in as the token's user.
func TestTokenOfAnotherUserIsRefused(t *testing.T) {
	srv := servertest.Start(t)
	for _, cmd := range []string{"client", "watch"} {
		stdout, _, err := runOnce(t, cmd, "--url", srv.URL, "--user", "alice", "--token", servertest.Token(t, "bob"))
		if err == nil || !strings.Contains(err.Error(), `--user "alice"`) || !strings.Contains(err.Error(), `"bob"`) {
			t.Errorf("%s: err %v, want a refusal naming alice and bob; output:\n%s", cmd, err, stdout)
		}
	}
}

// A refused --token that has expired is said to have expired: the server's refusal says only
// "authentication failed", as it does for a wrong secret.
func TestExpiredTokenIsNamed(t *testing.T) {
	srv := servertest.Start(t)
	old, err := auth.Mint([]byte(servertest.Secret), "alice", time.Hour, time.Now().Add(-2*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"client", "watch"} {
		_, _, err := runOnce(t, cmd, "--url", srv.URL, "--user", "alice", "--token", old)
		if client.Code(err) != client.CodeAuthFailed || !strings.Contains(err.Error(), "the --token expired at ") {
			t.Errorf("%s: err %v, want code %d and the token's expiry", cmd, err, client.CodeAuthFailed)
		}
	}
}

// The line that confirms an invitation names only the users who ring, not those refused.
func TestClientNamesOnlyTheUsersWhoRing(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	alice.send(`invite bob 'no one' --advanced`)
	m := alice.waitFor(`call (\S+) \(\S+\) ringing (.*) for 30s`)
	if m[2] != "bob" {
		t.Errorf("invite: ringing %q, want bob", m[2])
	}
	alice.waitFor(`not invited: no one \[6000001`)
	alice.send(`more ` + m[1] + ` carol 'no one'`)
	if r := alice.waitFor(`call ` + m[1] + `: also ringing (.*)`); r[1] != "carol" {
		t.Errorf("more: also ringing %q, want carol", r[1])
	}

	alice.send(`end ` + m[1])
	alice.waitFor(`call ` + m[1] + `: end done`)
	alice.send(`invite bob bob --timeout 20`) // the repeat is refused, bob rings
	if r := alice.waitFor(`call \S+ \(\S+\) ringing (.*) for 20s`); r[1] != "bob" {
		t.Errorf("invite bob bob: ringing %q, want bob", r[1])
	}
}

// A --secret on the command line wins over a DIALTONE_TOKEN in the environment, as flags win
// over the environment; the environment's token was used.
func TestSecretFlagWinsOverTokenInTheEnvironment(t *testing.T) {
	srv := servertest.Start(t)
	t.Setenv("DIALTONE_TOKEN", servertest.Token(t, "bob"))
	stdout, _, err := runOnce(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	if err != nil || !strings.Contains(stdout, "logged in as alice") {
		t.Fatalf("err %v, output:\n%s", err, stdout)
	}
}

// A client replaced by another login on the same device says how to run both: the kick's
// reason alone ("replaced") does not tell.
func TestReplacedClientNamesTheDevice(t *testing.T) {
	srv := servertest.Start(t)
	first := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	first.waitFor(`logged in as alice`)
	second := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	second.waitFor(`logged in as alice`)
	err := first.wait()
	if err == nil || !strings.Contains(err.Error(), "replaced") || !strings.Contains(err.Error(), `same --device "dialtone-cli"`) {
		t.Fatalf("err %v, want the replacement and the device", err)
	}
}

// A wrong flag in a command says what is wrong with it before the command's synopsis.
func TestClientNamesTheWrongFlag(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	alice.send("invite bob --timeout abc")
	alice.waitFor(`error: invite: invalid value "abc" for flag -timeout.*\nusage: invite USER…`)
	alice.send("more x bob --bogus")
	alice.waitFor(`error: more: flag provided but not defined: -bogus\nusage: more CALL USER…`)
}

// Strings another user chooses (extendedData) reach the terminal quoted as Go strings, their
// control characters escaped, so none can move the cursor, retitle the window or clear the
// screen; "watch" prints them JSON-escaped, C1 controls (U+009B is a CSI to a terminal) and
// bidirectional overrides included, and they decode to what was sent.
func TestClientAndWatchPrintNoTerminalEscapes(t *testing.T) {
	srv := servertest.Start(t)
	bob := startCLI(t, "client", "--url", srv.URL, "--user", "bob", "--secret", servertest.Secret)
	bob.waitFor(`logged in as bob`)
	w := startCLI(t, "watch", "--url", srv.URL, "--user", "bob", "--device", "w", "--secret", servertest.Secret)
	w.waitFor(`"state":"Connected"`)
	alice, err := client.Dial(t.Context(), srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Login(t.Context(), servertest.Token(t, "alice"), "a"); err != nil {
		t.Fatal(err)
	}
	const data = "\x1b]0;owned\a\x1b[2J\x1b[1;1H\r\x7f\u009b2J\u202ehi\u2028"
	if _, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, ExtendedData: data}); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(`(?m)^  data: ` + regexp.QuoteMeta(strconv.Quote(data)) + `$`)
	m := w.waitFor(`"event":"callInvitationReceived","seq":\d+,"data":(.*)}\n`)
	var ev client.CallInvitationReceived
	if err := json.Unmarshal([]byte(m[1]), &ev); err != nil || ev.ExtendedData != data {
		t.Errorf("watch's ring %s: extendedData %q, %v; want %q", m[1], ev.ExtendedData, err, data)
	}
	for name, out := range map[string]string{"client": bob.out.String(), "watch": w.out.String()} {
		if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }); i >= 0 {
			t.Errorf("%s printed %q raw at byte %d of:\n%q", name, []rune(out[i:])[0], i, out)
		}
	}
}

// A session that ends while the client sleeps (sleep 1h in a script) ends the program at
// once, as it does between commands: the sleep does not outlast the session.
func TestSleepEndsWithTheSession(t *testing.T) {
	srv := servertest.Start(t)
	first := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	first.waitFor(`logged in as alice`)
	first.send("sleep 1h")
	second := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	second.waitFor(`logged in as alice`)
	if err := first.wait(); err == nil || !strings.Contains(err.Error(), "session ended") {
		t.Fatalf("err %v, want the session's end", err)
	}
}

// A command typed while the server is away says at once that it waits for the server,
// instead of a silence ending in "context deadline exceeded".
func TestCommandWhileTheServerIsAwaySaysSo(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	srv.Stop()
	alice.waitFor(`connection Reconnecting`)
	alice.send("list")
	alice.waitFor(`not connected to the server \(Reconnecting\); list waits for it up to 15s`)
}

// An argument of the wrong type or out of range says what is wrong with it before the
// command's synopsis, as a wrong flag does.
func TestClientNamesTheWrongArgument(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	alice.send("sleep soon")
	alice.waitFor(`error: sleep: "soon" is not a duration such as 2s\nusage: sleep DURATION`)
	alice.send("list -1")
	alice.waitFor(`error: list: "-1" is not a whole number ≥ 0\nusage: list \[COUNT\] \[NEXT\]`)
	alice.send("list 99999999999999999999")
	alice.waitFor(`error: list: "99999999999999999999" is not a whole number ≥ 0\nusage: list`)
}

// An empty CALL (two single quotes on the command line) names no call: it is refused, not
// taken as the beginning of the one call the client knows, which "end" would then end.
func TestEmptyCallIsRefused(t *testing.T) {
	srv := servertest.Start(t)
	alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
	alice.waitFor(`logged in as alice`)
	alice.send("invite bob")
	short := alice.waitFor(`call (\S+) \(\S+\) ringing bob`)[1]
	alice.send("cancel ''")
	alice.waitFor(`error: cancel: an empty CALL names no call`)
	alice.send("show " + short)
	alice.waitFor(`call \S+: Started`)
	if strings.Contains(alice.out.String(), "cancelled") {
		t.Fatalf("cancel '' cancelled the call:\n%s", alice.out.String())
	}
}

// A script piped into the client goes on after a command that failed, as a shell runs a script,
// and the client then exits with status 1 (run returns an error naming the failures), so the
// script's caller learns of it; a script whose commands all succeeded exits with status 0
// (docs/behaviour.md §12, "A script piped into dialtone client").
func TestClientScriptWithAFailedCommandExitsNonZero(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name, script, failure string
	}{
		{"unknown command", "frobnicate\nlist\n", `1 command failed \(line 1: unknown command "frobnicate"`},
		{"refused by the server", "accept nosuchcall\nlist\n", `1 command failed \(line 1: accept: .*6000`},
		{"wrong arguments", "list -1\nlist\nexit\n", `1 command failed \(line 1: list: "-1" is not a whole number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
			alice.waitFor(`logged in as alice`)
			go fmt.Fprint(alice.in, tc.script) // typed by another goroutine: the client reads as it goes
			alice.waitFor(`no calls`)          // the command after the failed one ran
			alice.in.Close()
			err := alice.wait()
			if err == nil || !regexp.MustCompile(tc.failure).MatchString(err.Error()) {
				t.Fatalf("a script with a failed command ended with %v, want an error matching %q", err, tc.failure)
			}
		})
	}
	t.Run("all succeeded", func(t *testing.T) {
		alice := startCLI(t, "client", "--url", srv.URL, "--user", "alice", "--secret", servertest.Secret)
		alice.waitFor(`logged in as alice`)
		go fmt.Fprint(alice.in, "# a comment\n\nlist\nhelp\n")
		alice.waitFor(`(?m)^  exit `)
		alice.in.Close()
		if err := alice.wait(); err != nil {
			t.Fatalf("a script whose commands all succeeded ended with %v", err)
		}
	})
}

// invite and more ring for the client's own default when --timeout is not given, not the
// protocol's 90 s (behaviour R3.1): their help says how long, so that a user who leaves it out
// knows.
func TestClientHelpNamesTheDefaultRingTime(t *testing.T) {
	want := fmt.Sprintf("%ds unless --timeout", defaultRingSeconds)
	for _, c := range commandTable() {
		if (c.name == "invite" || c.name == "more") && !strings.Contains(c.help, want) {
			t.Errorf("the help of %s, %q, does not say %q", c.name, c.help, want)
		}
	}
}
