package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/config"
)

const tokenUsage = `
Usage: dialtone token --secret S [--ttl 24h] [--audience A] USER

Mints an HS256 login token for USER, signed with the server's secret, and prints it. A USER
that begins with "-" goes after "--": dialtone token --secret S -- -bob. The server's
DIALTONE_SECRET and DIALTONE_AUDIENCE are the defaults of --secret and --audience.
`

// runToken implements "dialtone token".
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", tokenUsage, stdout, stderr)
	secret := fs.String("secret", envOr("DIALTONE_SECRET", ""), "the server's token secret (env DIALTONE_SECRET)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	audience := fs.String("audience", envOr("DIALTONE_AUDIENCE", ""),
		"aud claim, for a server started with --audience (env DIALTONE_AUDIENCE)")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("token: give exactly one USER (see dialtone token --help)")
	}
	tok, err := mintToken(*secret, pos[0], *ttl, *audience)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// mintToken signs a token for user with secret, valid for ttl from now.
func mintToken(secret, user string, ttl time.Duration, audience string) (string, error) {
	if secret == "" {
		return "", errors.New("a secret is needed (--secret or DIALTONE_SECRET)")
	}
	if err := checkMinting(secret, ttl, audience); err != nil {
		return "", err
	}
	return auth.Mint([]byte(secret), user, ttl, time.Now(), audience)
}

// checkMinting refuses a secret or an audience the server would refuse as its --secret or
// --audience, with which no token could log in, and a --ttl no token can have.
func checkMinting(secret string, ttl time.Duration, audience string) error {
	if err := config.CheckSecret(secret); err != nil {
		return fmt.Errorf("%w (the server refuses such a secret, so no token signed with it logs in)", err)
	}
	if err := config.CheckAudience(audience); err != nil {
		return err
	}
	if ttl <= 0 {
		return errors.New("--ttl must be positive")
	}
	return nil
}
