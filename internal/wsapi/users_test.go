package wsapi

import (
	"fmt"
	"slices"
	"testing"
)

// The --dev list of users who logged in (Config.RememberUsers) keeps the most recent
// maxSeenUsers only: a long run with many distinct users, such as a load test against a --dev
// server, does not grow it without bound, and a user who logs in again counts as recent.
func TestSeenUsersBounded(t *testing.T) {
	var s Server
	s.seen.add("alice")
	for i := range 200_000 {
		s.seen.add(fmt.Sprintf("u%06d", i))
		if i%1000 == 0 {
			s.seen.add("alice") // logs in again now and then
		}
	}
	got := s.Users()
	if len(got) > maxSeenUsers {
		t.Fatalf("users remembered after 200,001 logins = %d, want at most %d", len(got), maxSeenUsers)
	}
	for _, u := range []string{"alice", "u199999", fmt.Sprintf("u%06d", 200_000-maxSeenUsers/2)} {
		if !slices.Contains(got, u) {
			t.Errorf("recent user %s not listed", u)
		}
	}
	if slices.Contains(got, "u000000") {
		t.Error("the oldest user is still listed")
	}
}
