package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/config"
	"github.com/dialtone/dialtone/internal/webhook"
	"github.com/dialtone/dialtone/internal/wire"
)

// webhookEvents are the callback events of behaviour §10.
var webhookEvents = []string{"call_create", "call_invite", "call_accept", "call_reject", "call_join",
	"call_cancel", "call_timeout", "call_quit", "call_end"}

// endReasons are the values of a callback's reason (§10): call_cancel's and call_end's.
var endReasons = []string{"caller_cancel", "answered", "rejected", "timeout", "cancelled", "ended", "everyone_left"}

// backticked matches a `word` of a doc.
var backticked = regexp.MustCompile("`([^`]+)`")

// webhookTable returns the fields each event of a webhook table carries beyond the common
// ones (sorted), and the reasons it lists, from the section of the doc at path headed
// heading: rows whose first cell names events and whose last cell names fields, and the
// reason values that follow `reason`.
func webhookTable(t *testing.T, path, heading string) (fields, reasons map[string][]string) {
	t.Helper()
	fields, reasons = map[string][]string{}, map[string][]string{}
	for row := range strings.SplitSeq(docsSection(t, path, heading), "\n") {
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		if len(cells) < 2 || !strings.HasPrefix(cells[0], "`call_") {
			continue
		}
		var fs, rs []string
		inReasons := false
		for _, m := range backticked.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			switch w := m[1]; {
			case w == "reason":
				inReasons = true
				fs = append(fs, w)
			case inReasons && slices.Contains(endReasons, w):
				rs = append(rs, w)
			default:
				inReasons = false
				fs = append(fs, w)
			}
		}
		slices.Sort(fs)
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			fields[m[1]], reasons[m[1]] = fs, rs
		}
	}
	if len(fields) == 0 {
		t.Fatalf("%s %q has no webhook table", path, heading)
	}
	return fields, reasons
}

// sentFields returns the fields the server's body of event carries beyond common, when every
// field of its webhook is set, and the common ones.
func sentFields(t *testing.T, event string) (extra []string) {
	t.Helper()
	body, err := wire.EncodeWebhook(call.Webhook{Event: event, CallID: "c", Version: 2, Timestamp: 1, Caller: "alice",
		Mode: call.Advanced, Users: []string{"bob"}, Timeout: 30, ExtendedData: "x", Inviter: "carol", UserID: "bob",
		OperatedUserID: "alice", Reason: "ended", Lost: true, EndTime: 2}, 0)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(body, &m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(hookKeys, k) {
			extra = append(extra, k)
		}
	}
	return extra
}

// docs/webhooks.md "Bodies" gives each callback event the fields behaviour §10 gives it
// (docs/behaviour.md, the spec's words) and the server sends, with the same reasons, and the
// common fields every body has.
func TestWebhooksDocMatchesTheBodies(t *testing.T) {
	doc, docReasons := webhookTable(t, "docs/webhooks.md", "## Bodies")
	spec, specReasons := webhookTable(t, "docs/behaviour.md", "## 10. Webhooks (server callbacks)")
	for _, event := range webhookEvents {
		sent := sentFields(t, event)
		if !slices.Equal(doc[event], sent) {
			t.Errorf("docs/webhooks.md: %s carries %q; the server sends %q", event, doc[event], sent)
		}
		if !slices.Equal(spec[event], sent) {
			t.Errorf("behaviour §10: %s carries %q; the server sends %q", event, spec[event], sent)
		}
		if !slices.Equal(docReasons[event], specReasons[event]) {
			t.Errorf("docs/webhooks.md: %s's reasons %q; behaviour §10 says %q", event, docReasons[event], specReasons[event])
		}
	}
	for event := range doc {
		if !slices.Contains(webhookEvents, event) {
			t.Errorf("docs/webhooks.md names the event %s, which §10 does not have", event)
		}
	}
	section := docsSection(t, "docs/webhooks.md", "## Bodies")
	common, _, _ := strings.Cut(section, "plus per event")
	var named []string
	for _, m := range backticked.FindAllStringSubmatch(common, -1) {
		if !strings.Contains(m[1], "<") {
			named = append(named, m[1])
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(named)), slices.Sorted(slices.Values(hookKeys))) {
		t.Errorf("docs/webhooks.md: every body has %q; the server's have %q", named, hookKeys)
	}
}

// The example bodies of docs/webhooks.md are byte for byte what the server sends for those
// callbacks: their fields, their order and their eventID, <callID>.<version>.<index>.
func TestWebhooksDocExamplesAreTheServersBytes(t *testing.T) {
	section := docsSection(t, "docs/webhooks.md", "## Bodies")
	block := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("docs/webhooks.md \"Bodies\" has no JSON example")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(block[1]), "\n") {
		var b wire.WebhookBody
		must(t, json.Unmarshal([]byte(line), &b))
		parts := strings.Split(b.EventID, ".")
		if len(parts) != 3 || parts[0] != b.CallID {
			t.Errorf("example eventID %q is not <callID>.<version>.<index>", b.EventID)
			continue
		}
		version, err := strconv.ParseInt(parts[1], 10, 64)
		must(t, err)
		index, err := strconv.Atoi(parts[2])
		must(t, err)
		w := call.Webhook{Event: b.Event, CallID: b.CallID, Version: version, Timestamp: b.Timestamp, Caller: b.Caller,
			Mode: call.Mode(b.Mode), Users: b.Users, Timeout: b.Timeout, Inviter: b.Inviter, UserID: b.UserID,
			Reason: b.Reason, EndTime: b.EndTime}
		if b.ExtendedData != nil {
			w.ExtendedData = *b.ExtendedData
		}
		if b.OperatedUserID != nil {
			w.OperatedUserID = *b.OperatedUserID
		}
		if b.Lost != nil {
			w.Lost = *b.Lost
		}
		sent, err := wire.EncodeWebhook(w, index)
		must(t, err)
		if string(sent) != line {
			t.Errorf("docs/webhooks.md example\n%s\nthe server sends\n%s", line, sent)
		}
	}
}

// docs/webhooks.md "Request": the signature header is the server's, and the receiver's check
// it gives is operatorVerify word for word, which verifies what the server signs
// (TestE2EWebhookBodiesPerEvent and the other webhook tests check every callback with it).
func TestWebhooksDocVerifyIsTheTestedOne(t *testing.T) {
	section := docsSection(t, "docs/webhooks.md", "## Request")
	if !strings.Contains(section, "\n"+webhook.Header+": t=<unix seconds>,v1=") {
		t.Errorf("docs/webhooks.md \"Request\" does not give the header %s: t=…,v1=…", webhook.Header)
	}
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("docs/webhooks.md \"Request\" has no Go example")
	}
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, "e2e_webhook_test.go", nil, parser.ParseComments)
	must(t, err)
	src, err := os.ReadFile("e2e_webhook_test.go")
	must(t, err)
	var tested string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "operatorVerify" {
			tested = string(src[fset.Position(fn.Type.Pos()).Offset:fset.Position(fn.End()).Offset])
		}
	}
	if tested == "" {
		t.Fatal("e2e_webhook_test.go has no operatorVerify")
	}
	tested = "func verify" + strings.TrimPrefix(tested, "func operatorVerify")
	if strings.TrimSpace(block[1]) != tested {
		t.Errorf("docs/webhooks.md's verify is not operatorVerify:\n%s\n---\n%s", block[1], tested)
	}
	sig := webhook.Sign([]byte(hookSecret), time.Now(), []byte(`{"a":1}`))
	if !operatorVerify([]byte(hookSecret), sig, []byte(`{"a":1}`), time.Now()) {
		t.Errorf("operatorVerify refuses the server's signature %s", sig)
	}
}

// docs/webhooks.md "Request" gives every header the server sets on a callback with its value
// (the signature's as its form), so a receiver or a firewall rule written from it matches
// what arrives; only those Go's HTTP client adds to every request (Content-Length,
// Accept-Encoding) are left out.
func TestWebhooksDocGivesEveryRequestHeader(t *testing.T) {
	section := docsSection(t, "docs/webhooks.md", "## Request")
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	must(t, webhook.New(srv.URL, hookSecret, nil, nil).Send(t.Context(), []byte(`{}`)))
	header := <-got
	for _, name := range slices.Sorted(maps.Keys(header)) {
		switch name {
		case "Content-Length", "Accept-Encoding":
			continue
		case webhook.Header:
			if !strings.Contains(section, "\n"+name+": t=<unix seconds>,v1=") {
				t.Errorf("docs/webhooks.md \"Request\" does not give the header %s", name)
			}
			continue
		}
		if want := name + ": " + header.Get(name); !strings.Contains(section, want) {
			t.Errorf("docs/webhooks.md \"Request\" does not give the header %q the server sends", want)
		}
	}
}

// docs/webhooks.md "Settings" quotes each refusal of a webhook setting at start-up as the
// server words it, each naming its flag, and says which settings are accepted.
func TestWebhooksDocGivesTheRefusedSettings(t *testing.T) {
	section := strings.Join(strings.Fields(docsSection(t, "docs/webhooks.md", "## Settings")), " ")
	url, secret := []string{"--webhook-url", "https://hooks.example/dialtone"}, []string{"--webhook-secret", hookSecret}
	cat := func(parts ...[]string) []string { return append([]string{"--dev"}, slices.Concat(parts...)...) }
	for _, tc := range []struct {
		name string
		args []string
		msg  string // "" for accepted
	}{
		{"url without secret", cat(url), "--webhook-secret is required with --webhook-url"},
		{"secret without url", cat(secret), "--webhook-secret needs --webhook-url: without it no webhook is sent"},
		{"expiry without url", cat([]string{"--webhook-expiry", "1h"}), "--webhook-expiry needs --webhook-url: without it no webhook is sent"},
		{"default expiry without url", cat([]string{"--webhook-expiry", "24h"}), ""},
		{"scheme", cat(secret, []string{"--webhook-url", "ftp://hooks.example"}), "--webhook-url must be an http:// or https:// URL"},
		{"no host", cat(secret, []string{"--webhook-url", "https:///hook"}), "--webhook-url must be an http:// or https:// URL"},
		{"port", cat(secret, []string{"--webhook-url", "https://hooks.example:0/"}), "--webhook-url port must be a number from 1 to 65535"},
		{"short expiry", cat(url, secret, []string{"--webhook-expiry", "9s"}), "--webhook-expiry must be at least 10s"},
		{"secret with a line break", cat(url, []string{"--webhook-secret", hookSecret + "\n"}),
			"--webhook-secret must not hold a control character nor begin or end with a space"},
		{"all three", cat(url, secret, []string{"--webhook-expiry", "10s"}), ""},
	} {
		_, err := config.Parse(tc.args, func(string) string { return "" }, io.Discard)
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		case tc.msg != "" && !strings.Contains(section, "`"+tc.msg):
			t.Errorf("docs/webhooks.md \"Settings\" does not quote %q (%s)", tc.msg, tc.name)
		}
	}
	if !strings.Contains(section, "equal to its default") {
		t.Errorf("docs/webhooks.md \"Settings\" does not say that --webhook-expiry equal to its default is accepted without --webhook-url")
	}
}
