package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dialtone/dialtone/internal/outbox"
)

// FCMScope is the OAuth scope of FCM HTTP v1.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMConfig configures the FCM HTTP v1 provider.
type FCMConfig struct {
	Credentials []byte       // the service-account JSON (client_email, private_key, project_id)
	TokenURL    string       // OAuth 2 token endpoint (the JWT's audience)
	Endpoint    string       // send URL; {project} is replaced by project_id
	Client      *http.Client // nil: defaultClient
	Now         func() time.Time
}

// FCM sends through Firebase Cloud Messaging HTTP v1 with a service account: an RS256 JWT
// assertion is exchanged for an access token, cached until a minute before it expires.
type FCM struct {
	cfg      FCMConfig
	email    string
	key      any // *rsa.PrivateKey
	endpoint string
	tokens   tokenCache
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
		cfg.Client = defaultClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &FCM{cfg: cfg, email: sa.ClientEmail, key: key,
		endpoint: strings.ReplaceAll(cfg.Endpoint, "{project}", sa.ProjectID)}, nil
}

// accessToken returns a cached access token or exchanges a new assertion for one; it is kept
// until a minute before it expires.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	now := f.cfg.Now()
	return f.tokens.get(ctx, now, func() (string, time.Time, error) {
		assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": f.email, "scope": FCMScope, "aud": f.cfg.TokenURL,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}).SignedString(f.key)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("push fcm: sign assertion: %w", err)
		}
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
		ans, err := post(ctx, f.cfg.Client, f.cfg.TokenURL,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form.Encode()))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("push fcm: token: %w", err)
		}
		body := ans.body
		if ans.status != http.StatusOK { // retried, no sooner than a Retry-After asks
			return "", time.Time{}, outbox.HTTPRetryAfter(fmt.Errorf("push fcm: token endpoint answered %d: %s", ans.status, body),
				ans.status, ans.header, f.cfg.Now())
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		// The answer is not quoted: it may hold an access token, and the error is logged.
		if err := json.Unmarshal(body, &tok); err != nil {
			return "", time.Time{}, fmt.Errorf("push fcm: token endpoint's answer: %w", err)
		}
		if tok.AccessToken == "" {
			return "", time.Time{}, errors.New("push fcm: token endpoint answered no access_token")
		}
		return tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second - time.Minute), nil
	})
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

// Data returns a message's fields as FCM data (string values): callID, caller, kind,
// serverTime, and inviter, deadline, title, content, payload, resourcesID and its profile's sound
// and androidChannelID when set.
func (m Message) Data() map[string]string {
	d := map[string]string{"callID": m.CallID, "caller": m.Caller, "kind": m.Kind,
		"serverTime": strconv.FormatInt(m.ServerTime, 10)}
	for k, v := range map[string]string{"inviter": m.Inviter, "title": m.Title, "content": m.Content, "payload": m.Payload,
		"resourcesID": m.ResourcesID, "sound": m.Profile.Sound, "androidChannelID": m.Profile.AndroidChannelID} {
		if v != "" {
			d[k] = v
		}
	}
	if m.Deadline != 0 {
		d["deadline"] = strconv.FormatInt(m.Deadline, 10)
	}
	if m.Truncated {
		d["truncated"] = "true"
	}
	return d
}

// fcmDataLimit is FCM's limit on a message's data, the only part of the message it counts.
const fcmDataLimit = 4096

// fcmData returns the JSON of m's FCM data, the bytes FCM's limit applies to.
func fcmData(m Message) ([]byte, error) { return encodeJSON(m.Data()) }

// Fit implements Fitter: m fitted so that its data is within FCM's 4096 bytes.
func (f *FCM) Fit(_ Target, m Message) (Message, error) {
	m, _, err := fit(m, fcmDataLimit, fcmData)
	if err != nil {
		return m, fmt.Errorf("push fcm: %w", err)
	}
	return m, nil
}

// CloseIdleConnections closes the connections to FCM and its token endpoint kept open between
// pushes; the server calls it as it stops.
func (f *FCM) CloseIdleConnections() { f.cfg.Client.CloseIdleConnections() }

// Send implements Provider. A token FCM says is dead (fcmError.tokenInvalid): the token is
// invalid; any other 400, such as a message FCM calls too big or a bad field of the message
// (which say nothing of the token): a rejection; 401 for the access token: it is dropped and
// the request sent again at once (retryCredential); 401 THIRD_PARTY_AUTH_ERROR (the APNs key
// of the Firebase project), 429, 5xx: retried (429 and 5xx no sooner than their Retry-After
// asks). The message is m fitted to FCM's limit (Fit); one that cannot fit is refused without
// a request.
func (f *FCM) Send(ctx context.Context, t Target, m Message) error {
	m, err := f.Fit(t, m)
	if err != nil {
		return err
	}
	msg := FCMMessage{Token: t.Token, Data: m.Data(), Android: FCMAndroid{CollapseKey: m.CollapseKey(), Priority: "high"}}
	if m.Deadline != 0 {
		left := max(time.UnixMilli(m.Deadline).Sub(f.cfg.Now()), 0)
		msg.Android.TTL = strconv.FormatInt(int64((left+time.Second-1)/time.Second), 10) + "s"
	}
	body, err := encodeJSON(FCMRequest{Message: msg})
	if err != nil {
		return fmt.Errorf("push fcm: %w", err)
	}
	return retryCredential(func() error { return f.post(ctx, body) })
}

// post sends body to messages:send with the current access token, and classifies the answer
// as Send says.
func (f *FCM) post(ctx context.Context, body []byte) error {
	token, err := f.accessToken(ctx)
	if err != nil {
		return err
	}
	ans, err := post(ctx, f.cfg.Client, f.endpoint,
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}, body)
	if err != nil {
		return fmt.Errorf("push fcm: %w", err)
	}
	if ans.status == http.StatusOK {
		return nil
	}
	var e fcmError
	_ = json.Unmarshal(ans.body, &e)
	detail := e.detail()
	switch {
	case e.tokenInvalid():
		return fmt.Errorf("push fcm: status %d %s: %w", ans.status, detail, ErrTokenInvalid)
	case ans.status == http.StatusUnauthorized && containsAny(e.codes(), "THIRD_PARTY_AUTH_ERROR"):
		// The project's APNs key or certificate, which its operator may mend in the Firebase
		// console: the access token is good, and a later attempt may succeed.
		return fmt.Errorf("push fcm: status %d %s", ans.status, detail)
	case ans.status == http.StatusUnauthorized:
		f.tokens.drop(token)
		return fmt.Errorf("push fcm: access token refused: %s: %w", detail, errCredentialRefused)
	}
	return httpError("fcm", ans, detail, f.cfg.Now())
}

// fcmError is the body of an FCM HTTP v1 error answer (a google.rpc.Status): its details hold
// FCM's own error code (FcmError) or the request's faulty fields (BadRequest).
type fcmError struct {
	Error struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Details []struct {
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// codes returns the answer's status and FCM error codes.
func (e fcmError) codes() []string {
	codes := []string{e.Error.Status}
	for _, d := range e.Error.Details {
		codes = append(codes, d.ErrorCode)
	}
	return codes
}

// detail is the answer as logged: its codes and message.
func (e fcmError) detail() string { return strings.Join(e.codes(), "/") + " " + e.Error.Message }

// tokenInvalid reports whether an answer says the registration token is dead: FCM's error
// code UNREGISTERED (its 404 for an app instance that is gone), or INVALID_ARGUMENT that names
// the token, by its message ("The registration token is not a valid FCM registration token")
// or a faulty field message.token. FCM answers INVALID_ARGUMENT for faults of the message too
// (a bad data value, TTL or package name, a message too big), and a 404 without UNREGISTERED
// is a wrong endpoint or project: neither says anything of the token.
func (e fcmError) tokenInvalid() bool {
	codes := e.codes()
	if containsAny(codes, "UNREGISTERED") {
		return true
	}
	if !containsAny(codes, "INVALID_ARGUMENT") {
		return false
	}
	if strings.Contains(strings.ToLower(e.Error.Message), "registration token") {
		return true
	}
	for _, d := range e.Error.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				return true
			}
		}
	}
	return false
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
