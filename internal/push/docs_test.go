package push

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pushDoc returns docs/push.md.
func pushDoc(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/push.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// docPart returns the text of doc from the first line that begins with start up to the next
// blank line.
func docPart(t *testing.T, doc, start string) string {
	t.Helper()
	_, part, ok := strings.Cut(doc, "\n"+start)
	if !ok {
		t.Fatalf("docs/push.md has no %q", start)
	}
	part, _, _ = strings.Cut(start+part, "\n\n")
	return part
}

// keys returns the key paths of the JSON object body, sorted: "a", "a.b" for a nested object.
func keys(t *testing.T, body []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			out = append(out, prefix+k)
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	slices.Sort(out)
	return out
}

// fullMessage is a push with every field set, as an invitation shortened to fit carries them.
func fullMessage() Message {
	return Message{Kind: KindInvitation, CallID: "c", Caller: "alice", Inviter: "bob", ServerTime: 1, Deadline: 2, Title: "t",
		Content: "x", Payload: "p", ResourcesID: "ring",
		Profile:   Profile{Sound: "ring.caf", APNsCategory: "CALL", AndroidChannelID: "calls"},
		Truncated: true}
}

// quotedKeys returns the quoted words of text that are keys, not values (a value follows
// a colon), sorted, without duplicates.
func quotedKeys(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(:\s*)?"([^"]+)"`).FindAllStringSubmatch(text, -1) {
		if m[1] == "" && !slices.Contains(out, m[2]) {
			out = append(out, m[2])
		}
	}
	slices.Sort(out)
	return out
}

// docs/push.md "Message fields" names the fields of the message every provider carries, which
// are the JSON fields of a push message (also what the webhook provider sends as "message").
func TestPushDocMessageFields(t *testing.T) {
	table := docPart(t, pushDoc(t), "| field | meaning |")
	var named []string
	for row := range strings.SplitSeq(table, "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(row, "| "), " | ")
		for _, m := range backtickedWord.FindAllStringSubmatch(first, -1) {
			named = append(named, m[1])
		}
	}
	slices.Sort(named)
	body, err := json.Marshal(fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, k := range keys(t, body) {
		if !strings.Contains(k, ".") {
			sent = append(sent, k)
		}
	}
	if !slices.Equal(named, sent) {
		t.Errorf("docs/push.md \"Message fields\" names %q; a push message has %q", named, sent)
	}
}

// backtickedWord matches a `word` of the doc.
var backtickedWord = regexp.MustCompile("`([^`]+)`")

// docs/push.md's webhook provider example has the fields of the request the provider sends
// (all but truncated, which it never sends), and its profile table the fields of a profile.
func TestPushDocWebhookRequestAndProfiles(t *testing.T) {
	doc := pushDoc(t)
	example := regexp.MustCompile("(?s)`--push-webhook-url URL`.*?```json\n(.*?)```").FindStringSubmatch(doc)
	if example == nil {
		t.Fatal("docs/push.md has no webhook provider example")
	}
	full := fullMessage()
	full.Truncated = false
	sent, err := json.Marshal(WebhookBody{Target: WebhookTarget{Provider: "webhook", Token: "tok", VoIP: true, BundleID: "b"},
		Message: full})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, []byte(example[1])), keys(t, sent); !slices.Equal(got, want) {
		t.Errorf("docs/push.md's webhook request has %q; the provider sends %q", got, want)
	}

	profiles := regexp.MustCompile("(?s)`--push-profiles FILE`.*?```json\n(.*?)```").FindStringSubmatch(doc)
	if profiles == nil {
		t.Fatal("docs/push.md has no push profiles example")
	}
	if _, err := ParseProfiles([]byte(profiles[1])); err != nil {
		t.Errorf("docs/push.md's profiles example: %v", err)
	}
	var named []string
	for row := range strings.SplitSeq(docPart(t, doc, "| field | APNs | FCM data | `webhook` |"), "\n") {
		if m := regexp.MustCompile("^\\| `(\\w+)` \\|").FindStringSubmatch(row); m != nil {
			named = append(named, m[1])
		}
	}
	slices.Sort(named)
	body, err := json.Marshal(full.Profile)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(t, body); !slices.Equal(named, got) {
		t.Errorf("docs/push.md's profile table names %q; a profile has %q", named, got)
	}
}

// docs/push.md's FCM message and APNs body name the fields the providers send.
func TestPushDocProviderBodies(t *testing.T) {
	doc := pushDoc(t)
	m := fullMessage()

	fcm := regexp.MustCompile(`(?s)Each push is a data message:\s*(.*?)\(ttl for invitations only\)`).FindStringSubmatch(doc)
	if fcm == nil {
		t.Fatal("docs/push.md has no FCM data message")
	}
	data := regexp.MustCompile(`"data": \{([^}]*)\}`).FindStringSubmatch(fcm[1])
	if data == nil {
		t.Fatal("docs/push.md's FCM message has no data")
	}
	var named []string
	for k := range strings.SplitSeq(data[1], ",") {
		named = append(named, strings.TrimSpace(k))
	}
	slices.Sort(named)
	if sent := slices.Sorted(maps.Keys(m.Data())); !slices.Equal(named, sent) {
		t.Errorf("docs/push.md's FCM data names %q; FCM is sent %q", named, sent)
	}
	req, err := json.Marshal(FCMRequest{Message: FCMMessage{Token: "tok", Data: map[string]string{},
		Android: FCMAndroid{CollapseKey: "c", Priority: "high", TTL: "30s"}}})
	if err != nil {
		t.Fatal(err)
	}
	outer := strings.Replace(fcm[1], data[0], `"data"`, 1)
	var sent []string
	for _, k := range keys(t, req) {
		k = k[strings.LastIndex(k, ".")+1:]
		if !slices.Contains(sent, k) {
			sent = append(sent, k)
		}
	}
	slices.Sort(sent)
	if got := quotedKeys(outer); !slices.Equal(got, sent) {
		t.Errorf("docs/push.md's FCM request names %q; FCM is sent %q", got, sent)
	}

	apns := regexp.MustCompile("(?s)Body: `(\\{\"aps\".*?\\})`").FindStringSubmatch(doc)
	if apns == nil {
		t.Fatal("docs/push.md has no APNs body")
	}
	body, err := apnsBody(m)
	if err != nil {
		t.Fatal(err)
	}
	sent = nil
	for _, k := range keys(t, body) {
		sent = append(sent, k[strings.LastIndex(k, ".")+1:])
	}
	slices.Sort(sent)
	if got := quotedKeys(apns[1]); !slices.Equal(got, sent) {
		t.Errorf("docs/push.md's APNs body names %q; APNs is sent %q", got, sent)
	}
}
