package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

func TestWatchPrintsJSONLines(t *testing.T) {
	srv := servertest.Start(t)
	w := startCLI(t, "watch", "--url", srv.URL, "--user", "bob", "--secret", servertest.Secret)
	w.waitFor(`"state":"Connected"`)

	ctx := context.Background()
	alice, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Login(ctx, servertest.Token(t, "alice"), "a"); err != nil {
		t.Fatal(err)
	}
	res, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor(`"event":"callUserStateChanged","seq":\d+`)

	var sawRing bool
	for _, line := range strings.Split(strings.TrimSpace(w.out.String()), "\n") {
		var l struct {
			Event string          `json:"event"`
			Seq   *int64          `json:"seq"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if l.Event != "callInvitationReceived" {
			continue
		}
		var ev client.CallInvitationReceived
		if err := json.Unmarshal(l.Data, &ev); err != nil || ev.CallID != res.CallID || l.Seq == nil || *l.Seq <= 0 {
			t.Fatalf("ring line %q: %v", line, err)
		}
		sawRing = true
	}
	if !sawRing {
		t.Fatalf("no callInvitationReceived line in:\n%s", w.out.String())
	}
}
