package wsapi

import (
	"container/list"
	"slices"
	"sync"
)

// maxSeenUsers bounds the users seenUsers remembers: the demo page lists a few, and a long run
// with many distinct users (a load test against a --dev server) must not grow the list, nor
// the server's memory, without bound.
const maxSeenUsers = 1000

// seenUsers remembers the users that logged in since the server started, for the demo page's
// "whom to call" list in --dev (httpapi.DevRoutes), when Config.RememberUsers is set: the
// maxSeenUsers that logged in most recently.
type seenUsers struct {
	mu    sync.Mutex
	users map[string]*list.Element // user → its place in order
	order list.List                // of user IDs, the most recent login first
}

// add records a login of userID, forgetting the user whose last login is the oldest when the
// list is full.
func (u *seenUsers) add(userID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := u.users[userID]; e != nil {
		u.order.MoveToFront(e)
		return
	}
	if u.users == nil {
		u.users = map[string]*list.Element{}
	}
	u.users[userID] = u.order.PushFront(userID)
	if u.order.Len() > maxSeenUsers {
		delete(u.users, u.order.Remove(u.order.Back()).(string))
	}
}

// Users returns, sorted, the users that logged in on this server since it started, whether
// still connected or not, the maxSeenUsers most recent only; none unless
// Config.RememberUsers is set.
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
