package main

import (
	"testing"

	"github.com/coder/websocket"
)

// protocol.md "Transport": strings are UTF-8, and a message that is not is refused, over the
// WebSocket (close 1007) as through the server REST API, which validates as the protocol does
// (docs/api.md: 400, 6000001). Nothing is decoded with U+FFFD in place of the bad bytes: no
// call is made, for the invitee or anyone.
func TestE2ENotUTF8IsRefusedOverTheWireAndREST(t *testing.T) {
	ts := startServer(t, "--api-key", apiKey)
	const invite = "{\"userID\":\"alice\",\"invitees\":[\"bob\"],\"config\":{\"extendedData\":\"caf\xe9\"}}"
	if st, m := apiCall(t, ts, "POST", "/v1/api/calls", apiKey, invite); st != 400 || errCode(m) != 6000001 {
		t.Errorf("REST invite with extendedData not UTF-8: %d %v, want 400 6000001", st, m)
	}
	r := ts.raw(t)
	r.login("carol")
	r.send("{\"id\":2,\"op\":\"callInvite\",\"data\":{\"invitees\":[\"bob\"],\"config\":{\"extendedData\":\"caf\xe9\"}}}")
	if c := r.closed(); c != websocket.StatusInvalidFramePayloadData {
		t.Errorf("callInvite with extendedData not UTF-8: close %d, want 1007", c)
	}
	if st, m := apiCall(t, ts, "GET", "/v1/api/users/bob/calls", apiKey, ""); st != 200 || len(m["callList"].([]any)) != 0 {
		t.Errorf("bob's calls after both were refused: %d %v, want none", st, m)
	}
}
