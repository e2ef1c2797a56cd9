package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Webhook is the generic provider: it POSTs {"target": …, "message": …} as JSON to the
// application's own push service (--push-webhook-url), which talks to the platforms itself.
// 2xx: taken; 404 or 410: the token is invalid; 3xx, 429, 5xx: retried (429 and 5xx no sooner
// than their Retry-After asks); any other status: rejected. A VoIP target gets invitations only.
type Webhook struct {
	url    string
	client *http.Client
	now    func() time.Time // reads a Retry-After date
}

// NewWebhook returns the provider for url; client nil means defaultClient.
func NewWebhook(url string, client *http.Client) *Webhook {
	if client == nil {
		client = defaultClient()
	}
	return &Webhook{url: url, client: client, now: time.Now}
}

// WebhookTarget is the target as the push service receives it.
type WebhookTarget struct {
	Provider string `json:"provider"`
	Token    string `json:"token"`
	VoIP     bool   `json:"voip"`
	BundleID string `json:"bundleID,omitempty"`
}

// WebhookBody is the JSON body of one push sent to the push service.
type WebhookBody struct {
	Target  WebhookTarget `json:"target"`
	Message Message       `json:"message"`
}

// Skips implements Skipper: only invitations are sent to a VoIP target, which the push
// service forwards as VoIP pushes (voipSkips).
func (w *Webhook) Skips(t Target, m Message) bool { return voipSkips(t, m) }

// Send implements Provider; a push the VoIP rule skips (Skips) is taken without a request.
func (w *Webhook) Send(ctx context.Context, t Target, m Message) error {
	if w.Skips(t, m) {
		return nil
	}
	body, err := json.Marshal(WebhookBody{Target: WebhookTarget(t), Message: m})
	if err != nil {
		return fmt.Errorf("push webhook: %w", err)
	}
	a, err := post(ctx, w.client, w.url,
		map[string]string{"Content-Type": "application/json", "User-Agent": "dialtone-push/1"}, body)
	if err != nil {
		return fmt.Errorf("push webhook: %w", err)
	}
	switch {
	case a.status >= 200 && a.status <= 299:
		return nil
	case a.status == http.StatusNotFound || a.status == http.StatusGone:
		return fmt.Errorf("push webhook: status %d: %w", a.status, ErrTokenInvalid)
	}
	return httpError("webhook", a, "", w.now())
}

// CloseIdleConnections closes the connections to the push service kept open between pushes;
// the server calls it as it stops.
func (w *Webhook) CloseIdleConnections() { w.client.CloseIdleConnections() }
