package client_test

import (
	"context"
	"io"
	"log"
	"os"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/server"
)

// exampleSecret signs the tokens of the examples' server.
const exampleSecret = "example-secret-0123456789abcdef"

// exampleServer runs a Dialtone server in-process for an example, as cmd/dialtoned does, on a
// free local port with a fresh data directory, and returns its URL and a function that stops it
// and removes the directory.
func exampleServer() (serverURL string, stop func()) {
	dir, err := os.MkdirTemp("", "dialtone-example-")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := make(chan string, 1), make(chan error, 1)
	args := []string{"--dev", "--listen", "127.0.0.1:0", "--data", dir, "--secret", exampleSecret, "--log-level", "error"}
	go func() { done <- server.Run(ctx, args, nil, io.Discard, io.Discard, func(a string) { addrs <- a }) }()
	select {
	case addr := <-addrs:
		serverURL = "ws://" + addr
	case err := <-done:
		log.Fatalf("example server: %v", err)
	}
	return serverURL, func() {
		cancel()
		if err := <-done; err != nil {
			log.Printf("example server: %v", err)
		}
		os.RemoveAll(dir)
	}
}

// tokenFor mints a login token for user, as an application's backend does.
func tokenFor(user string) string {
	token, err := auth.Mint([]byte(exampleSecret), user, time.Hour, time.Now(), "")
	if err != nil {
		log.Fatal(err)
	}
	return token
}

// loggedIn returns a client of serverURL logged in as user on device, with handler h (nil: none).
func loggedIn(serverURL, user, device string, h client.EventHandler) *client.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, serverURL, client.Options{EventHandler: h})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Login(ctx, tokenFor(user), device); err != nil {
		log.Fatal(err)
	}
	return c
}
