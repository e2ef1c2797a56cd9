package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/auth"
)

func TestTokenMintsAVerifiableToken(t *testing.T) {
	const secret = "test-secret-0123456789"
	out, _, err := runOnce(t, "token", "--secret", secret, "--ttl", "1h", "--audience", "app", "alice")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier([]byte(secret), "app")
	if err != nil {
		t.Fatal(err)
	}
	user, err := v.Verify(strings.TrimSpace(out), time.Now())
	if err != nil || user != "alice" {
		t.Fatalf("Verify = %q, %v; want alice", user, err)
	}
	if _, err := v.Verify(strings.TrimSpace(out), time.Now().Add(2*time.Hour)); err == nil {
		t.Error("the token is still valid after its ttl")
	}
}

// Every userID of behaviour §1 gets its token, one that begins with "-" after "--" (else it
// reads as a flag, as the usage says).
func TestTokenForEveryCharacterOfUserIDs(t *testing.T) {
	const secret = "test-secret-0123456789"
	v, _ := auth.NewVerifier([]byte(secret), "")
	for _, id := range []string{"!#$%&()+-:;<=.>?@[]^_{}|~", ".", "..", "-bob", "--", "-h"} {
		out, _, err := runOnce(t, "token", "--secret", secret, "--", id)
		if user, verr := v.Verify(strings.TrimSpace(out), time.Now()); err != nil || verr != nil || user != id {
			t.Errorf("token -- %q: %q, %v, %v", id, user, err, verr)
		}
	}
	if _, _, err := runOnce(t, "token", "--secret", secret, "-bob"); err == nil {
		t.Error(`token -bob without "--" succeeded`)
	}
	stdout, stderr, _ := runOnce(t, "token", "--help")
	if !strings.Contains(stdout+stderr, "-- -bob") {
		t.Errorf("token --help does not say how to name a user beginning with -:\n%s%s", stdout, stderr)
	}
}

func TestTokenReadsTheSecretFromTheEnvironment(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "env-secret-0123456789")
	out, _, err := runOnce(t, "token", "bob")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier([]byte("env-secret-0123456789"), "")
	if user, err := v.Verify(strings.TrimSpace(out), time.Now()); err != nil || user != "bob" {
		t.Fatalf("Verify = %q, %v; want bob", user, err)
	}
}

func TestTokenRefusesBadInput(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "")
	for _, args := range [][]string{
		{"token", "alice"}, // no secret
		{"token", "--secret", "test-secret-0123456789"},               // no user
		{"token", "--secret", "test-secret-0123456789", "not a user"}, // invalid userID
		{"token", "--secret", "test-secret-0123456789", "--ttl", "0s", "alice"},
	} {
		if _, _, err := runOnce(t, args...); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}

// TestHelpDocumentsEveryFlag checks that --help of each command names all its flags.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	cases := map[string][]string{
		"token":           {"secret", "ttl", "audience"},
		"client":          {"url", "user", "device", "token", "secret", "audience", "ttl", "login-timeout"},
		"watch":           {"url", "user", "device", "token", "secret", "audience", "ttl", "login-timeout"},
		"bench lifecycle": {"url", "secret", "pairs", "duration", "warmup", "rate", "devices", "json", "step-timeout", "login-concurrency"},
		"bench idle":      {"url", "secret", "sessions", "hold", "sources", "server-pid", "json"},
		"bench timers":    {"url", "secret", "invitations", "window", "grace", "json"},
	}
	for cmd, flags := range cases {
		stdout, stderr, err := runOnce(t, append(strings.Fields(cmd), "--help")...)
		if err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		for _, f := range flags {
			if !strings.Contains(stdout+stderr, "-"+f) {
				t.Errorf("%s --help does not document --%s", cmd, f)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"bench", "--help"}} {
		stdout, _, err := runOnce(t, args...)
		if err != nil || !strings.Contains(stdout, "Usage") {
			t.Errorf("%q: %v\n%s", args, err, stdout)
		}
	}
	if _, _, err := runOnce(t, "frobnicate"); err == nil {
		t.Error("an unknown command succeeded")
	}
}

// The server's DIALTONE_AUDIENCE goes with its DIALTONE_SECRET: where both are set, as for the
// server, a minted token carries that audience, so the server takes it.
func TestTokenReadsTheAudienceFromTheEnvironment(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "env-secret-0123456789")
	t.Setenv("DIALTONE_AUDIENCE", "app")
	out, _, err := runOnce(t, "token", "bob")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier([]byte("env-secret-0123456789"), "app")
	if user, err := v.Verify(strings.TrimSpace(out), time.Now()); err != nil || user != "bob" {
		t.Fatalf("Verify with audience app = %q, %v; want bob", user, err)
	}
	out, _, err = runOnce(t, "token", "--audience", "other", "bob") // the flag wins
	if err != nil {
		t.Fatal(err)
	}
	v, _ = auth.NewVerifier([]byte("env-secret-0123456789"), "other")
	if user, err := v.Verify(strings.TrimSpace(out), time.Now()); err != nil || user != "bob" {
		t.Fatalf("Verify with audience other = %q, %v; want bob", user, err)
	}
}

// Help that was asked for goes to stdout for every command, as "dialtone --help" does (so
// "dialtone client --help | less" shows it); the usage after a flag error goes to stderr.
func TestAskedForHelpGoesToStdout(t *testing.T) {
	for _, cmd := range []string{"token", "client", "watch", "bench lifecycle", "bench idle", "bench timers"} {
		for _, help := range []string{"--help", "-h"} {
			stdout, stderr, err := runOnce(t, append(strings.Fields(cmd), help)...)
			if err != nil || !strings.Contains(stdout, "Usage: dialtone "+cmd) || !strings.Contains(stdout, "Flags:") || stderr != "" {
				t.Errorf("%s %s: err %v, stdout %q, stderr %q; want the usage on stdout only", cmd, help, err, stdout, stderr)
			}
		}
		stdout, stderr, err := runOnce(t, append(strings.Fields(cmd), "--no-such-flag")...)
		if err == nil || stdout != "" || !strings.Contains(stderr, "no-such-flag") || !strings.Contains(stderr, "Usage: dialtone "+cmd) {
			t.Errorf("%s --no-such-flag: err %v, stdout %q, stderr %q; want the error and usage on stderr only", cmd, err, stdout, stderr)
		}
	}
}

// "dialtone help COMMAND" prints the command's help, as "dialtone COMMAND --help" does, and
// an unknown COMMAND is an error, not the general usage with status 0.
func TestHelpOfACommand(t *testing.T) {
	for _, args := range [][]string{{"help", "token"}, {"help", "client"}, {"bench", "help", "idle"}} {
		stdout, _, err := runOnce(t, args...)
		want := "Usage: dialtone " + strings.Join(slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s == "help" }), " ")
		if err != nil || !strings.Contains(stdout, want) {
			t.Errorf("%q: err %v, stdout %q; want %q", args, err, stdout, want)
		}
	}
	for _, args := range [][]string{{"help", "frobnicate"}, {"bench", "help", "frobnicate"}, {"help", "token", "client"}} {
		if _, _, err := runOnce(t, args...); err == nil {
			t.Errorf("%q succeeded", args)
		}
	}
}

// A secret the server refuses as its --secret (shorter than 16 bytes, or with a space or
// control character at an end, such as a file's line break) signs tokens no server takes:
// token, client, watch and bench refuse it at once, naming --secret, instead of minting a
// token every login then refuses with 6000291. The README's `dialtone token --secret S alice`
// with a one-letter S is refused so.
func TestSecretTheServerRefusesIsRefused(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "")
	t.Setenv("DIALTONE_TOKEN", "")
	u := "ws://127.0.0.1:1/v1/ws" // nothing listens: a refusal must come before any dial
	for _, secret := range []string{"S", "short-secret", "test-secret-0123456789\n", " test-secret-0123456789"} {
		for _, args := range [][]string{
			{"token", "--secret", secret, "alice"},
			{"client", "--url", u, "--user", "alice", "--secret", secret},
			{"watch", "--url", u, "--user", "alice", "--secret", secret},
			{"bench", "lifecycle", "--url", u, "--secret", secret, "--pairs", "1", "--duration", "1s"},
			{"bench", "idle", "--url", u, "--secret", secret, "--sessions", "1", "--hold", "1s"},
		} {
			stdout, _, err := runOnce(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--secret") || strings.Contains(err.Error(), "connect") {
				t.Errorf("%q: err %v, stdout %q; want a refusal naming --secret", args, err, stdout)
			}
		}
	}
	// The same secret from the environment is refused alike.
	t.Setenv("DIALTONE_SECRET", "S")
	if _, _, err := runOnce(t, "token", "alice"); err == nil || !strings.Contains(err.Error(), "--secret") {
		t.Errorf("token with DIALTONE_SECRET=S: err %v, want a refusal naming --secret", err)
	}
}

// --token and --secret are two ways to log in: given both on the command line, one would be
// silently ignored, so client and watch refuse them, as they refuse --audience and --ttl with
// --token (they apply to minted tokens only).
func TestClientRefusesTokenWithMintingFlags(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "")
	t.Setenv("DIALTONE_TOKEN", "")
	u := "ws://127.0.0.1:1/v1/ws"
	tok, _, err := runOnce(t, "token", "--secret", "test-secret-0123456789", "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	for _, extra := range [][]string{
		{"--secret", "test-secret-0123456789"}, {"--audience", "app"}, {"--ttl", "1h"},
	} {
		for _, cmd := range []string{"client", "watch"} {
			args := append([]string{cmd, "--url", u, "--user", "alice", "--token", tok}, extra...)
			_, _, err := runOnce(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--token") || !strings.Contains(err.Error(), extra[0]) {
				t.Errorf("%q: err %v; want a refusal naming --token and %s", args, err, extra[0])
			}
		}
	}
	// A --secret on the command line still wins over DIALTONE_TOKEN, as flags win over the
	// environment: that is no conflict.
	t.Setenv("DIALTONE_TOKEN", tok)
	_, _, err = runOnce(t, "client", "--url", u, "--user", "alice", "--secret", "test-secret-0123456789")
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("--secret with DIALTONE_TOKEN set: err %v, want the connection's failure", err)
	}
}

// A --ttl the token cannot have is refused naming the flag.
func TestTokenTTLErrorNamesTheFlag(t *testing.T) {
	for _, args := range [][]string{
		{"token", "--secret", "test-secret-0123456789", "--ttl", "0s", "alice"},
		{"token", "--secret", "test-secret-0123456789", "--ttl", "-1h", "alice"},
		{"client", "--url", "ws://127.0.0.1:1/v1/ws", "--user", "alice", "--secret", "test-secret-0123456789", "--ttl", "-1s"},
	} {
		_, _, err := runOnce(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--ttl") {
			t.Errorf("%q: err %v; want a refusal naming --ttl", args, err)
		}
	}
}

// An --audience the server refuses as its own (a control character or a space at an end, such
// as a file's line break) would put an aud claim in the token that no server's --audience
// equals: token and client refuse it, naming --audience.
func TestAudienceTheServerRefusesIsRefused(t *testing.T) {
	t.Setenv("DIALTONE_AUDIENCE", "")
	for _, args := range [][]string{
		{"token", "--secret", "test-secret-0123456789", "--audience", "calls.example\n", "alice"},
		{"client", "--url", "ws://127.0.0.1:1/v1/ws", "--user", "alice", "--secret", "test-secret-0123456789", "--audience", " calls.example"},
	} {
		_, _, err := runOnce(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--audience") {
			t.Errorf("%q: err %v; want a refusal naming --audience", args, err)
		}
	}
}

// Flags given before the command ("dialtone bench --url U lifecycle", as one writes them for
// dialtoned) are told as such, not as an unknown command named after the flag.
func TestFlagsBeforeTheCommandAreToldAsSuch(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "ws://127.0.0.1:1/v1/ws", "client"},
		{"bench", "--url", "ws://127.0.0.1:1/v1/ws", "lifecycle"},
	} {
		_, _, err := runOnce(t, args...)
		if err == nil || strings.Contains(err.Error(), "unknown command") || !strings.Contains(err.Error(), "before its flags") {
			t.Errorf("%q: err %v; want a refusal saying the command goes before its flags", args, err)
		}
	}
}

// The usage, asked for or printed after a flag error (which a script's log keeps), never shows
// the secret or token that DIALTONE_SECRET or DIALTONE_TOKEN hold as the defaults of --secret
// and --token, as the server's own --help never does.
func TestUsageShowsNoCredentialFromTheEnvironment(t *testing.T) {
	const secret, tok = "env-secret-never-shown-0123", "env.token.never-shown"
	t.Setenv("DIALTONE_SECRET", secret)
	t.Setenv("DIALTONE_TOKEN", tok)
	for _, cmd := range []string{"token", "client", "watch", "bench lifecycle", "bench idle", "bench timers"} {
		for _, flag := range []string{"--help", "--no-such-flag"} {
			stdout, stderr, _ := runOnce(t, append(strings.Fields(cmd), flag)...)
			if !strings.Contains(stdout+stderr, "Usage: dialtone "+cmd) {
				t.Fatalf("%s %s printed no usage:\n%s%s", cmd, flag, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, secret) || strings.Contains(stdout+stderr, tok) {
				t.Errorf("%s %s shows a credential of the environment:\n%s%s", cmd, flag, stdout, stderr)
			}
		}
	}
}

// A --user or --device the server would refuse (behaviour §1's charset) is refused before
// connecting, naming the flag, with a token or a secret alike.
func TestClientRefusesAnInvalidUserOrDeviceNamingTheFlag(t *testing.T) {
	t.Setenv("DIALTONE_SECRET", "")
	t.Setenv("DIALTONE_TOKEN", "")
	u := "ws://127.0.0.1:1/v1/ws"
	for _, c := range []struct{ flag, value string }{{"--user", "bad user"}, {"--device", "bad/device"}} {
		for _, cred := range [][]string{{"--secret", "test-secret-0123456789"}, {"--token", "a.b.c"}} {
			for _, cmd := range []string{"client", "watch"} {
				args := append([]string{cmd, "--url", u, "--user", "alice", "--device", "d1"}, cred...)
				args = append(args, c.flag, c.value)
				_, _, err := runOnce(t, args...)
				if err == nil || !strings.Contains(err.Error(), c.flag) {
					t.Errorf("%q: err %v; want a refusal naming %s", args, err, c.flag)
				}
			}
		}
	}
}
