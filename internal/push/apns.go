package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	Client   *http.Client // nil: a client with HTTP/2 over TLS and a 10 s timeout
	Now      func() time.Time
}

// APNs sends through the Apple Push Notification service over HTTP/2 with token
// authentication (an ES256 JWT refreshed every 50 minutes).
//
// VoIP targets (PushKit tokens) accept only VoIP pushes, and a withdrawal is never a VoIP push
// (behaviour §9): a withdrawal to a VoIP target is skipped; the app ends the call UI itself
// when the call's events (or queryCall) say the invitation is over.
type APNs struct {
	cfg APNsConfig
	key *ecdsa.PrivateKey

	mu     sync.Mutex
	token  string
	issued time.Time
}

// LoadAPNs reads the .p8 key at path and returns the provider.
func LoadAPNs(path string, cfg APNsConfig) (*APNs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("push apns: %w", err)
	}
	cfg.Key = b
	return NewAPNs(cfg)
}

// NewAPNs returns the provider for cfg.Key.
func NewAPNs(cfg APNsConfig) (*APNs, error) {
	key, err := jwt.ParseECPrivateKeyFromPEM(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("push apns: key: %w", err)
	}
	if cfg.KeyID == "" || cfg.TeamID == "" {
		return nil, fmt.Errorf("push apns: key ID and team ID are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true}}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Endpoint = strings.TrimSuffix(cfg.Endpoint, "/")
	return &APNs{cfg: cfg, key: key}, nil
}

// providerToken returns the current JWT, signing a new one when it is 50 minutes old.
func (a *APNs) providerToken() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	if a.token != "" && now.Sub(a.issued) < apnsTokenLifetime {
		return a.token, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": a.cfg.TeamID, "iat": now.Unix()})
	t.Header["kid"] = a.cfg.KeyID
	s, err := t.SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("push apns: sign token: %w", err)
	}
	a.token, a.issued = s, now
	return s, nil
}

// dropToken forgets a token APNs refused, so the next attempt signs a new one.
func (a *APNs) dropToken(token string) {
	a.mu.Lock()
	if a.token == token {
		a.token = ""
	}
	a.mu.Unlock()
}

// APNsPayload is the JSON body of an APNs request.
type APNsPayload struct {
	APS        APNsAPS `json:"aps"`
	CallID     string  `json:"callID"`
	Caller     string  `json:"caller"`
	Kind       string  `json:"kind"`
	Deadline   int64   `json:"deadline,omitempty"`
	ServerTime int64   `json:"serverTime"`
	Payload    string  `json:"payload,omitempty"`
}

// APNsAPS is the aps dictionary.
type APNsAPS struct {
	Alert APNsAlert `json:"alert"`
	Sound string    `json:"sound"`
}

// APNsAlert is the visible alert.
type APNsAlert struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Send implements Provider. 410, or 400 with reason BadDeviceToken, Unregistered or
// DeviceTokenNotForTopic: the token is invalid; 403 ExpiredProviderToken or
// InvalidProviderToken: a new JWT is signed and the send retried; 429, 5xx: retried.
func (a *APNs) Send(ctx context.Context, t Target, m Message) error {
	if t.VoIP && m.Kind == KindWithdrawal {
		return nil // never a VoIP push; a PushKit token takes nothing else
	}
	body, err := json.Marshal(APNsPayload{APS: APNsAPS{Alert: APNsAlert{Title: m.Title, Body: m.Content}, Sound: "default"},
		CallID: m.CallID, Caller: m.Caller, Kind: m.Kind, Deadline: m.Deadline, ServerTime: m.ServerTime, Payload: m.Payload})
	if err != nil {
		return fmt.Errorf("push apns: %w", err)
	}
	token, err := a.providerToken()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Endpoint+"/3/device/"+t.Token, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push apns: %w", err)
	}
	topic, pushType := t.BundleID, "alert"
	if t.VoIP {
		topic, pushType = t.BundleID+".voip", "voip"
	}
	req.Header.Set("authorization", "bearer "+token)
	req.Header.Set("apns-topic", topic)
	req.Header.Set("apns-push-type", pushType)
	req.Header.Set("apns-collapse-id", m.CallID)
	req.Header.Set("apns-priority", "10")
	if m.Kind == KindInvitation && m.Deadline != 0 {
		req.Header.Set("apns-expiration", strconv.FormatInt(m.Deadline/1000, 10))
	}
	req.Header.Set("content-type", "application/json")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("push apns: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(raw, &e)
	switch {
	case resp.StatusCode == http.StatusGone ||
		resp.StatusCode == http.StatusBadRequest && containsAny([]string{e.Reason}, "BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"):
		return fmt.Errorf("push apns: status %d %s: %w", resp.StatusCode, e.Reason, ErrTokenInvalid)
	case resp.StatusCode == http.StatusForbidden && (e.Reason == "ExpiredProviderToken" || e.Reason == "InvalidProviderToken"):
		a.dropToken(token)
		return fmt.Errorf("push apns: provider token refused: %s", e.Reason)
	}
	return httpError("apns", resp.StatusCode, e.Reason)
}
