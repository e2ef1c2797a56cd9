package push

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// docs/push.md "A push waiting for its retry takes no delivery slot": a push waits at most
// the request timeout (10 s) for FCM's access token. When the token endpoint stops answering, the pushes that need
// the token share the one fetch under way and give up with it, after the timeout, instead of each
// waiting in turn for the one before to give up and then fetching again.
func TestFCMPushesShareOneAccessTokenFetch(t *testing.T) {
	const timeout = 2 * time.Second // the request timeout (10 s in production)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	creds, _ := json.Marshal(map[string]string{"project_id": "proj-1", "client_email": "push@proj-1.iam.example",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	var fetches atomic.Int32
	hang := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fetches.Add(1)
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	p, err := NewFCM(FCMConfig{Credentials: creds, TokenURL: "https://oauth.example/token",
		Endpoint: "https://fcm.example/v1/projects/{project}/messages:send", Client: &http.Client{Timeout: timeout, Transport: hang}})
	if err != nil {
		t.Fatal(err)
	}
	const pushes = 3
	took := make(chan time.Duration, pushes)
	start := time.Now()
	for i := range pushes {
		go func() {
			err := p.Send(t.Context(), Target{Provider: "fcm", Token: string(rune('a' + i))}, Message{Kind: KindEnd, CallID: "c1"})
			if err == nil {
				t.Error("Send without an access token succeeded")
			}
			took <- time.Since(start)
		}()
	}
	for range pushes {
		if d := <-took; d >= 2*timeout {
			t.Errorf("a push waited %v for the access token, want at most the request timeout (%v)", d, timeout)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d access token fetches, want the pushes to share 1", n)
	}
}
