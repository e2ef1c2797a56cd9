package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FCMScope is the OAuth scope of FCM HTTP v1.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMConfig configures the FCM HTTP v1 provider.
type FCMConfig struct {
	Credentials []byte       // the service-account JSON (client_email, private_key, project_id)
	TokenURL    string       // OAuth 2 token endpoint (the JWT's audience)
	Endpoint    string       // send URL; {project} is replaced by project_id
	Client      *http.Client // nil: a client with a 10 s timeout
	Now         func() time.Time
}

// FCM sends through Firebase Cloud Messaging HTTP v1 with a service account: an RS256 JWT
// assertion is exchanged for an access token, cached until a minute before it expires.
type FCM struct {
	cfg      FCMConfig
	email    string
	project  string
	key      any // *rsa.PrivateKey
	endpoint string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// LoadFCM reads the service-account file at path and returns the provider.
func LoadFCM(path string, cfg FCMConfig) (*FCM, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("push fcm: %w", err)
	}
	cfg.Credentials = b
	return NewFCM(cfg)
}

// NewFCM returns the provider for cfg.Credentials.
func NewFCM(cfg FCMConfig) (*FCM, error) {
	var sa struct {
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		ProjectID   string `json:"project_id"`
	}
	if err := json.Unmarshal(cfg.Credentials, &sa); err != nil {
		return nil, fmt.Errorf("push fcm: credentials: %w", err)
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" || sa.ProjectID == "" {
		return nil, fmt.Errorf("push fcm: credentials need client_email, private_key and project_id")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("push fcm: private_key: %w", err)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &FCM{cfg: cfg, email: sa.ClientEmail, project: sa.ProjectID, key: key,
		endpoint: strings.ReplaceAll(cfg.Endpoint, "{project}", sa.ProjectID)}, nil
}

// accessToken returns a cached access token or exchanges a new assertion for one.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now()
	if f.token != "" && now.Before(f.expires) {
		return f.token, nil
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": f.email, "scope": FCMScope, "aud": f.cfg.TokenURL,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(f.key)
	if err != nil {
		return "", fmt.Errorf("push fcm: sign assertion: %w", err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("push fcm: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("push fcm: token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("push fcm: token endpoint answered %d: %s", resp.StatusCode, body) // retried
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("push fcm: token endpoint answered no access_token: %s", body)
	}
	f.token, f.expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second-time.Minute)
	return f.token, nil
}

// dropToken forgets a token the endpoint refused (401), so the next attempt gets a new one.
func (f *FCM) dropToken(token string) {
	f.mu.Lock()
	if f.token == token {
		f.token = ""
	}
	f.mu.Unlock()
}

// FCMRequest is the body of messages:send.
type FCMRequest struct {
	Message FCMMessage `json:"message"`
}

// FCMMessage is an FCM HTTP v1 message: a data message with high Android priority.
type FCMMessage struct {
	Token   string            `json:"token"`
	Data    map[string]string `json:"data"`
	Android FCMAndroid        `json:"android"`
}

// FCMAndroid is the message's Android configuration.
type FCMAndroid struct {
	CollapseKey string `json:"collapse_key"`
	Priority    string `json:"priority"`
	TTL         string `json:"ttl,omitempty"` // invitation: seconds until the deadline, e.g. "27s"
}

// Data returns a message's fields as FCM data (string values), shared by the providers that
// carry data: callID, caller, kind, serverTime, and deadline, title, content, payload,
// resourcesID when set.
func (m Message) Data() map[string]string {
	d := map[string]string{"callID": m.CallID, "caller": m.Caller, "kind": m.Kind,
		"serverTime": strconv.FormatInt(m.ServerTime, 10)}
	for k, v := range map[string]string{"title": m.Title, "content": m.Content, "payload": m.Payload,
		"resourcesID": m.ResourcesID} {
		if v != "" {
			d[k] = v
		}
	}
	if m.Deadline != 0 {
		d["deadline"] = strconv.FormatInt(m.Deadline, 10)
	}
	return d
}

// Send implements Provider. 404, or an error status or FCM error code UNREGISTERED or
// INVALID_ARGUMENT: the token is invalid; 401: the access token is dropped and the send
// retried; 429, 5xx: retried.
func (f *FCM) Send(ctx context.Context, t Target, m Message) error {
	msg := FCMMessage{Token: t.Token, Data: m.Data(), Android: FCMAndroid{CollapseKey: m.CallID, Priority: "high"}}
	if m.Deadline != 0 {
		left := max(time.UnixMilli(m.Deadline).Sub(f.cfg.Now()), 0)
		msg.Android.TTL = strconv.FormatInt(int64((left+time.Second-1)/time.Second), 10) + "s"
	}
	body, err := json.Marshal(FCMRequest{Message: msg})
	if err != nil {
		return fmt.Errorf("push fcm: %w", err)
	}
	token, err := f.accessToken(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push fcm: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("push fcm: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	codes := []string{e.Error.Status}
	for _, d := range e.Error.Details {
		codes = append(codes, d.ErrorCode)
	}
	detail := strings.Join(codes, "/") + " " + e.Error.Message
	switch {
	case resp.StatusCode == http.StatusNotFound || containsAny(codes, "UNREGISTERED", "INVALID_ARGUMENT"):
		return fmt.Errorf("push fcm: status %d %s: %w", resp.StatusCode, detail, ErrTokenInvalid)
	case resp.StatusCode == http.StatusUnauthorized:
		f.dropToken(token)
		return fmt.Errorf("push fcm: access token refused: %s", detail)
	}
	return httpError("fcm", resp.StatusCode, detail)
}

func containsAny(have []string, want ...string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}
