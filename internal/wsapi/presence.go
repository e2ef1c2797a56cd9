package wsapi

import (
	"context"

	"github.com/dialtone/dialtone/protocol"
)

// Connected reports whether userID has a logged-in session on any device that can still be
// sent events (behaviour §9: pushes go to users with no connected device). A kicked session,
// which is sent nothing more while its close handshake ends, does not count.
func (s *Server) Connected(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	return u != nil && u.placesTaken("") > 0
}

// LogoutUser logs userID out on every connected device (the server REST API's logout): each
// session is kicked with logout, then its device is lost at once (R6.1) once the device's
// requests in flight are carried out, those of the connections the session replaced included,
// as for a logout from the device: none of them commits after the loss, so no call outlives
// the logout.
func (s *Server) LogoutUser(ctx context.Context, userID string) {
	s.mu.Lock()
	var sessions []*session
	if u := s.users[userID]; u != nil {
		for _, sess := range u.devices {
			sessions = append(sessions, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.kick(protocol.KickLogout)
		sess.waitDeviceOps()
		s.backend.Logout(ctx, userID, sess.deviceID)
	}
}
