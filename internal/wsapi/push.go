package wsapi

import (
	"context"
	"fmt"
	"slices"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// PushTargets keeps the devices' push registrations (behaviour §9, protocol.md "Extensions:
// push targets"); the store implements it. When Config.PushTargets is nil the push ops are
// unknown ops.
type PushTargets interface {
	// PushTargets returns userID's registrations.
	PushTargets(ctx context.Context, userID string) ([]switchboard.PushTarget, error)
	// PutPushTarget stores t, replacing any registration of the same (Provider, Token).
	PutPushTarget(ctx context.Context, t switchboard.PushTarget) error
	// DeletePushTarget removes (provider, token) if it belongs to userID.
	DeletePushTarget(ctx context.Context, userID, provider, token string) error
	// DeletePushTargets removes userID's registrations made from deviceID.
	DeletePushTargets(ctx context.Context, userID, deviceID string) error
}

// validPushTarget checks what pushRegister and pushUnregister share (6000001 otherwise).
func validPushTarget(provider, token string) error {
	switch provider {
	case protocol.PushProviderWebhook, protocol.PushProviderFCM, protocol.PushProviderAPNs:
	default:
		return invalid("provider must be webhook, fcm or apns")
	}
	if token == "" || len(token) > protocol.MaxPushTokenBytes {
		return invalid("token must be 1 to 4096 bytes")
	}
	return nil
}

func (srv *Server) pushRegister(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.PushRegisterData
	if err := decode(req.Data, &d); err != nil {
		return nil, err
	}
	if err := validPushTarget(d.Provider, d.Token); err != nil {
		return nil, err
	}
	if len(d.BundleID) > protocol.MaxAppIDBytes || len(d.AppID) > protocol.MaxAppIDBytes {
		return nil, invalid(fmt.Sprintf("bundleID and appID are at most %d bytes", protocol.MaxAppIDBytes))
	}
	if d.Provider == protocol.PushProviderAPNs && !protocol.ValidBundleID(d.BundleID) {
		return nil, invalid("bundleID is required for apns: letters, digits, - and .")
	}
	if err := srv.roomForPushTarget(ctx, s.userID, d.Provider, d.Token); err != nil {
		return nil, err
	}
	bundle := d.BundleID
	if bundle == "" {
		bundle = d.AppID
	}
	err := srv.cfg.PushTargets.PutPushTarget(ctx, switchboard.PushTarget{UserID: s.userID, DeviceID: s.deviceID,
		Provider: d.Provider, Token: d.Token, VoIP: d.VoIP, BundleID: bundle})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// roomForPushTarget refuses (6000001) a target that userID does not have yet when it has
// protocol.MaxPushTargetsPerUser already: each push to the user goes to every one of them.
// Registrations of the user made at the same time may pass the bound together, by no more than
// the requests in flight.
func (srv *Server) roomForPushTarget(ctx context.Context, userID, provider, token string) error {
	targets, err := srv.cfg.PushTargets.PushTargets(ctx, userID)
	if err != nil {
		return err
	}
	if len(targets) < protocol.MaxPushTargetsPerUser || slices.ContainsFunc(targets, func(t switchboard.PushTarget) bool {
		return t.Provider == provider && t.Token == token
	}) {
		return nil
	}
	return invalid("too many push targets: unregister one first")
}

func (srv *Server) pushUnregister(ctx context.Context, s *session, req protocol.Request) (any, error) {
	var d protocol.PushUnregisterData
	if err := decode(req.Data, &d); err != nil {
		return nil, err
	}
	if err := validPushTarget(d.Provider, d.Token); err != nil {
		return nil, err
	}
	if err := srv.cfg.PushTargets.DeletePushTarget(ctx, s.userID, d.Provider, d.Token); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// dropPushTargets removes the push targets registered from a device that logs out (§9).
func (srv *Server) dropPushTargets(ctx context.Context, userID, deviceID string) error {
	if srv.cfg.PushTargets == nil {
		return nil
	}
	if err := srv.cfg.PushTargets.DeletePushTargets(ctx, userID, deviceID); err != nil {
		return fmt.Errorf("logout: drop push targets of %s's device %s: %w", userID, deviceID, err)
	}
	return nil
}
