package push

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dialtone/dialtone/protocol"
)

// apnsTokenLifetime is how long a provider token is reused; Apple accepts one for up to an
// hour and refuses refreshing more often than every 20 minutes.
const apnsTokenLifetime = 50 * time.Minute

// APNsConfig configures the APNs provider.
type APNsConfig struct {
	Key      []byte       // the .p8 key: PEM PKCS#8 EC P-256
	KeyID    string       // the key's ID (the JWT's kid)
	TeamID   string       // the developer team (the JWT's iss)
	Endpoint string       // e.g. https://api.push.apple.com
	Client   *http.Client // nil: defaultClient (over HTTP/2 and the environment's proxy)
	Now      func() time.Time
}

// APNs sends through the Apple Push Notification service over HTTP/2 with token
// authentication (an ES256 JWT refreshed every 50 minutes).
//
// VoIP targets (PushKit tokens) accept only VoIP pushes, and iOS ends an app that does not
// report a new call to CallKit for each one it gets: only invitations are sent to them. A
// withdrawal is never a VoIP push (behaviour §9), and quit and end pushes bring no new call
// either; the app ends the call UI itself when the call's events (or queryCall) say so.
type APNs struct {
	cfg    APNsConfig
	key    *ecdsa.PrivateKey
	tokens tokenCache
}

// NewAPNs returns the provider for cfg.Key. It refuses a key that is not an EC key on P-256,
// which could not sign the ES256 provider tokens, so a wrong key stops the server at start-up
// rather than failing every push.
func NewAPNs(cfg APNsConfig) (*APNs, error) {
	key, err := jwt.ParseECPrivateKeyFromPEM(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("push apns: key: %w", err)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("push apns: key: an ES256 key must be on P-256, not %s", key.Curve.Params().Name)
	}
	if cfg.KeyID == "" || cfg.TeamID == "" {
		return nil, fmt.Errorf("push apns: key ID and team ID are required")
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Endpoint = strings.TrimSuffix(cfg.Endpoint, "/")
	return &APNs{cfg: cfg, key: key}, nil
}

// providerToken returns the current JWT, signing a new one when it is 50 minutes old.
func (a *APNs) providerToken(ctx context.Context) (string, error) {
	now := a.cfg.Now()
	return a.tokens.get(ctx, now, func() (string, time.Time, error) {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": a.cfg.TeamID, "iat": now.Unix()})
		t.Header["kid"] = a.cfg.KeyID
		s, err := t.SignedString(a.key)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("push apns: sign token: %w", err)
		}
		return s, now.Add(apnsTokenLifetime), nil
	})
}

// APNsPayload is the JSON body of an APNs request.
type APNsPayload struct {
	APS        APNsAPS `json:"aps"`
	CallID     string  `json:"callID"`
	Caller     string  `json:"caller"`
	Inviter    string  `json:"inviter,omitempty"`
	Kind       string  `json:"kind"`
	Deadline   int64   `json:"deadline,omitempty"`
	ServerTime int64   `json:"serverTime"`
	Payload    string  `json:"payload,omitempty"`
	// ResourcesID names the push profile (behaviour §9), whose sound and category are in aps;
	// carried as FCM's data and the push service carry it.
	ResourcesID string `json:"resourcesID,omitempty"`
	Truncated   bool   `json:"truncated,omitempty"` // shortened to fit (docs/push.md "Size limits")
}

// APNsAPS is the aps dictionary.
type APNsAPS struct {
	Alert    APNsAlert `json:"alert"`
	Sound    string    `json:"sound"`
	Category string    `json:"category,omitempty"`
}

// APNsAlert is the visible alert.
type APNsAlert struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// APNs' limits on a request body: 4096 bytes, 5120 for a VoIP push.
const (
	apnsLimit     = 4096
	apnsVoIPLimit = 5120
)

// apnsBody returns the JSON body of m's APNs request, as APNs counts it.
func apnsBody(m Message) ([]byte, error) {
	return encodeJSON(APNsPayload{APS: APNsAPS{Alert: APNsAlert{Title: m.Title, Body: m.Content},
		Sound: cmp.Or(m.Profile.Sound, "default"), Category: m.Profile.APNsCategory},
		CallID: m.CallID, Caller: m.Caller, Inviter: m.Inviter, Kind: m.Kind, Deadline: m.Deadline, ServerTime: m.ServerTime,
		Payload: m.Payload, ResourcesID: m.ResourcesID, Truncated: m.Truncated})
}

// Fit implements Fitter: m fitted to APNs' limit for t (5120 bytes for a VoIP target, else
// 4096). A push that is not sent to t (VoIP and no invitation) is returned as it is.
func (a *APNs) Fit(t Target, m Message) (Message, error) {
	if a.Skips(t, m) {
		return m, nil
	}
	m, _, err := a.fitBody(t, m)
	return m, err
}

// fitBody is Fit, with the body of the fitted message.
func (a *APNs) fitBody(t Target, m Message) (Message, []byte, error) {
	limit := apnsLimit
	if t.VoIP {
		limit = apnsVoIPLimit
	}
	m, body, err := fit(m, limit, apnsBody)
	if err != nil {
		return m, nil, fmt.Errorf("push apns: %w", err)
	}
	return m, body, nil
}

// Skips implements Skipper: only invitations are sent to a VoIP target (voipSkips).
func (a *APNs) Skips(t Target, m Message) bool { return voipSkips(t, m) }

// CloseIdleConnections closes the connections to APNs kept open between pushes; the server
// calls it as it stops.
func (a *APNs) CloseIdleConnections() { a.cfg.Client.CloseIdleConnections() }

// Send implements Provider. 410, or 400 with reason BadDeviceToken, Unregistered or
// DeviceTokenNotForTopic: the token is invalid; 403 ExpiredProviderToken: a new JWT is signed
// and the request sent again at once (retryCredential); 403 InvalidProviderToken: the JWT is
// dropped, and the send retried; 429, 5xx: retried (429 and 5xx no sooner than their
// Retry-After asks). A target whose BundleID is no bundle ID (protocol.ValidBundleID) is
// rejected without a request. The body is m fitted to APNs' limit (Fit); one that cannot fit
// is refused without a request.
func (a *APNs) Send(ctx context.Context, t Target, m Message) error {
	if a.Skips(t, m) {
		return nil
	}
	if !protocol.ValidBundleID(t.BundleID) { // registered before pushRegister checked it
		return fmt.Errorf("push apns: bundleID %q is no topic: %w", t.BundleID, ErrRejected)
	}
	m, body, err := a.fitBody(t, m)
	if err != nil {
		return err
	}
	return retryCredential(func() error { return a.post(ctx, t, m, body) })
}

// post sends body, m fitted for t, to APNs with the current provider token, and classifies
// the answer as Send says.
func (a *APNs) post(ctx context.Context, t Target, m Message, body []byte) error {
	token, err := a.providerToken(ctx)
	if err != nil {
		return err
	}
	header := map[string]string{"authorization": "bearer " + token, "apns-topic": t.BundleID, "apns-push-type": "alert",
		"apns-collapse-id": m.CollapseKey(), "apns-priority": "10", "content-type": "application/json"}
	if t.VoIP {
		header["apns-topic"], header["apns-push-type"] = t.BundleID+".voip", "voip"
	}
	if m.Kind == KindInvitation && m.Deadline != 0 {
		// Rounded up: APNs may discard the push only once the ring is over.
		header["apns-expiration"] = strconv.FormatInt((m.Deadline+999)/1000, 10)
	}
	// The token is one path segment whatever its bytes, so APNs judges the token itself.
	ans, err := post(ctx, a.cfg.Client, a.cfg.Endpoint+"/3/device/"+url.PathEscape(t.Token), header, body)
	if err != nil {
		return fmt.Errorf("push apns: %w", err)
	}
	status := ans.status
	if status == http.StatusOK {
		return nil
	}
	var e struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(ans.body, &e)
	switch {
	case status == http.StatusGone ||
		status == http.StatusBadRequest && containsAny([]string{e.Reason}, "BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"):
		return fmt.Errorf("push apns: status %d %s: %w", status, e.Reason, ErrTokenInvalid)
	case status == http.StatusForbidden && e.Reason == "ExpiredProviderToken":
		a.tokens.drop(token)
		return fmt.Errorf("push apns: provider token refused: %s: %w", e.Reason, errCredentialRefused)
	case status == http.StatusForbidden && e.Reason == "InvalidProviderToken":
		// Not sent again at once: a token the same key signs is as invalid, and APNs refuses
		// a new token more often than every 20 minutes.
		a.tokens.drop(token)
		return fmt.Errorf("push apns: provider token refused: %s", e.Reason)
	}
	return httpError("apns", ans, e.Reason, a.cfg.Now())
}
