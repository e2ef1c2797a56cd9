package wsapi

import (
	"slices"
	"sync"
)

// seenUsers remembers every user that logged in since the server started, for the demo page's
// "whom to call" list in --dev (httpapi.DevRoutes), when Config.RememberUsers is set. It only
// grows: a demo server's users are few.
type seenUsers struct {
	mu    sync.Mutex
	users map[string]struct{}
}

func (u *seenUsers) add(userID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == nil {
		u.users = map[string]struct{}{}
	}
	u.users[userID] = struct{}{}
}

// Users returns, sorted, the users that logged in on this server since it started, whether
// still connected or not; none unless Config.RememberUsers is set.
func (s *Server) Users() []string {
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	users := make([]string, 0, len(s.seen.users))
	for u := range s.seen.users {
		users = append(users, u)
	}
	slices.Sort(users)
	return users
}
