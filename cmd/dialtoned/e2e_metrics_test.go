package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// family is one metric family of /metrics: its TYPE and HELP lines.
type family struct{ typ, help string }

// scrape reads /metrics and returns its families by name, and the sample lines.
func scrape(t *testing.T, ts *testServer) (map[string]family, []string) {
	t.Helper()
	resp, err := http.Get("http://" + ts.Addr + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	families := map[string]family{}
	var samples []string
	for line := range strings.SplitSeq(string(body), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			f := families[name]
			f.help = help
			families[name] = f
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			f := families[name]
			f.typ = typ
			families[name] = f
		case line != "":
			samples = append(samples, line)
		}
	}
	return families, samples
}

// readmeMetrics returns the metrics the README's table lists, with their type, and
// with their label names as the table writes them ("op,code"; "" for none).
func readmeMetrics(t *testing.T) (types, labels map[string]string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	_, table, ok := strings.Cut(string(readme), "| metric | type | what |")
	if !ok {
		t.Fatal("README has no metrics table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	types, labels = map[string]string{}, map[string]string{}
	row := regexp.MustCompile(`^\| (.*?) \| (\w+) \|`)
	name := regexp.MustCompile("`(\\w+)(?:\\{([\\w,]*)\\})?`")
	for line := range strings.SplitSeq(table, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			types[n[1]], labels[n[1]] = m[2], n[2]
		}
	}
	if len(types) == 0 {
		t.Fatal("README's metrics table lists no metric")
	}
	return types, labels
}

// sampleLabels returns, for each family of samples (a histogram's _bucket, _sum and _count
// lines under its own name), its label names as "a,b" in the order /metrics writes them
// (sorted), without a histogram's le.
func sampleLabels(samples []string, families map[string]family) map[string]string {
	out := map[string]string{}
	sample := regexp.MustCompile(`^(\w+?)(?:_bucket|_sum|_count)?(?:\{(.*)\})? `)
	label := regexp.MustCompile(`(\w+)="`)
	for _, s := range samples {
		m := sample.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		fam := m[1]
		if _, ok := families[fam]; !ok { // a counter whose name ends in _count, say
			fam, _, _ = strings.Cut(s, "{")
			fam, _, _ = strings.Cut(fam, " ")
		}
		var names []string
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" {
				names = append(names, l[1])
			}
		}
		out[fam] = strings.Join(names, ",")
	}
	return out
}

// The README lists exactly the Dialtone metrics /metrics exports, each with its type; every
// family has help text, counters end in _total and histograms in their unit (_seconds, or
// _changes for the changes per commit), beside the
// Go runtime's and the process's.
func TestE2EMetricsMatchREADME(t *testing.T) {
	hooks := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hooks.Close)
	ts := startServer(t, "--webhook-url", hooks.URL, "--webhook-secret", hookSecret)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	alice.wait(res.CallID, "changed bob=Timeout (call ended)") // a deadline fired
	waitMetric(t, ts, `dialtone_outbox_attempts_total{kind="webhook",result="delivered"}`,
		`dialtone_outbox_attempts_total{kind="webhook",result="delivered"} 3`) // create, timeout, end

	families, samples := scrape(t, ts)
	want, wantLabels := readmeMetrics(t)
	gotLabels := sampleLabels(samples, families)
	var exported []string
	for name, f := range families {
		if f.help == "" {
			t.Errorf("%s has no help text", name)
		}
		if !strings.HasPrefix(name, "dialtone_") {
			continue
		}
		exported = append(exported, name)
		switch typ, listed := want[name]; {
		case !listed:
			t.Errorf("%s (%s) is exported but not in the README", name, f.typ)
		case typ != f.typ:
			t.Errorf("%s is a %s, the README says %s", name, f.typ, typ)
		}
		if got, wantL := sortedLabels(gotLabels[name]), sortedLabels(wantLabels[name]); got != wantL {
			t.Errorf("%s has the labels {%s}, the README says {%s}", name, got, wantL)
		}
		switch {
		case f.typ == "counter" && !strings.HasSuffix(name, "_total"),
			f.typ != "counter" && strings.HasSuffix(name, "_total"),
			f.typ == "histogram" && !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_changes"):
			t.Errorf("%s: a %s named against the Prometheus conventions", name, f.typ)
		}
	}
	for name := range want {
		if _, ok := families[name]; !ok {
			t.Errorf("%s is in the README but not exported", name)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if _, ok := families[name]; !ok {
			t.Errorf("%s (the Go runtime's and the process's metrics) not exported", name)
		}
	}
	slices.Sort(exported)
	t.Logf("exported: %v", exported)
}

// sortedLabels returns the comma-separated label names of list sorted, for comparison.
func sortedLabels(list string) string {
	if list == "" {
		return ""
	}
	names := strings.Split(list, ",")
	slices.Sort(names)
	return strings.Join(names, ",")
}

// Clients cannot add label values: an op the server does not know, whatever its name, is
// counted under op="unknown", before and after login.
func TestE2EMetricsOpLabelsAreBounded(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.send(`{"id":1,"op":"madeUpBeforeLogin"}`)
	r.errorCode()
	r.login("alice")
	for i, op := range []string{"madeUp1", "madeUp2", "", "login"} {
		r.send(`{"id":` + string(rune('2'+i)) + `,"op":"` + op + `"}`)
		r.errorCode()
	}
	r.send(`{"id":9,"op":"heartbeat"}`)
	r.reply(9)
	waitMetric(t, ts, `dialtone_operations_total{code="0",op="heartbeat"}`, `dialtone_operations_total{code="0",op="heartbeat"} 1`)
	_, samples := scrape(t, ts)
	known := []string{"login", "logout", "heartbeat", "callInvite", "callCancel", "callAccept", "callReject",
		"callingInvite", "callJoin", "callQuit", "callEnd", "callReceived", "queryCallInvitationList", "queryCall",
		"pushRegister", "pushUnregister", "unknown"}
	op := regexp.MustCompile(`op="([^"]*)"`)
	for _, s := range samples {
		if !strings.HasPrefix(s, "dialtone_operation") {
			continue
		}
		m := op.FindStringSubmatch(s)
		if m == nil || !slices.Contains(known, m[1]) || strings.Contains(s, "madeUp") {
			t.Errorf("sample with a label value a client chose: %s", s)
		}
	}
}

// gauge returns the value of an unlabelled gauge, as /metrics writes it.
func gauge(t *testing.T, ts *testServer, name string) string {
	t.Helper()
	line := metric(t, ts, name+" ")
	if line == "" {
		t.Fatalf("%s not exported", name)
	}
	return strings.TrimPrefix(line, name+" ")
}

// dialtone_sessions counts open connections and comes back down after every way one ends:
// a close, a logout, a replacement by a login with the same deviceID, a refused token.
func TestE2EMetricsSessionsGoBackDown(t *testing.T) {
	ts := startServer(t)
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	alice := ts.login(t, "alice", "a")
	bob := ts.login(t, "bob", "b")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 2")

	must(t, bob.Logout(t.Context()))
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	again := ts.raw(t) // alice's device "a" logs in elsewhere: the first session is kicked replaced
	again.send(`{"id":1,"op":"login","data":{"token":"` + token(t, "alice") + `","deviceID":"a"}}`)
	if f := again.next(); f.Error != nil {
		t.Fatalf("login: %v", f.Error)
	}
	alice.until("replaced kick", func() bool { return len(alice.kicks) > 0 && alice.kicks[0].Reason == client.KickReplaced })
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	refused := ts.raw(t)
	refused.send(`{"id":1,"op":"login","data":{"token":"not-a-token","deviceID":"x"}}`)
	refused.closed()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")

	again.conn.CloseNow()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
}

// dialtone_deadlines_pending counts the calls with a deadline scheduled, and comes back down
// as soon as a call's last deadline is gone: an accept that ends the call, a cancel, a
// timeout, and a glare accept that cancels the accepting user's own unanswered call (R3.3b).
func TestE2EMetricsDeadlinesPendingGoBackDown(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	pending := func(want string) {
		t.Helper()
		if got := gauge(t, ts, "dialtone_deadlines_pending"); got != want {
			t.Errorf("dialtone_deadlines_pending = %s, want %s", got, want)
		}
	}
	pending("0")

	accepted, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	pending("1")
	must(t, second(bob.CallAccept(t.Context(), accepted.CallID, client.OpConfig{}))) // ends the 1:1 call
	pending("0")

	cancelled, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	must(t, second(alice.CallCancel(t.Context(), cancelled.CallID, nil, client.OpConfig{})))
	pending("0")

	timedOut, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	alice.wait(timedOut.CallID, "changed bob=Timeout (call ended)")
	pending("0")

	// bob rings carol, then accepts alice's call: his own call is cancelled in that commit.
	own, err := bob.CallInvite(t.Context(), []string{"carol"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	toBob, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	pending("2")
	must(t, second(bob.CallAccept(t.Context(), toBob.CallID, client.OpConfig{})))
	carol.wait(own.CallID, "cancelled carol=BeCancelled")
	pending("0")
}

// After a restart the gauge counts the deadlines loaded from the store, and comes down once
// the due ones fired at start-up and the others are gone.
func TestE2EMetricsDeadlinesPendingAfterRestart(t *testing.T) {
	first := startServer(t)
	alice := first.login(t, "alice", "a")
	carol := first.login(t, "carol", "c")
	short, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 1})
	must(t, err)
	long, err := carol.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{Timeout: 600})
	must(t, err)
	first.Stop()
	// Down until the short call's deadline has passed: it fires at start-up.
	time.Sleep(time.Until(time.UnixMilli(short.CallInfo.CallUserList[1].Deadline)) + 100*time.Millisecond)

	restarted := startServerOn(t, first.Data)
	waitMetric(t, restarted, "dialtone_deadlines_pending ", "dialtone_deadlines_pending 1")
	// The gauge counts the overdue deadline out when it fires; its change commits just after,
	// in the background of a server that already serves.
	alice2 := restarted.login(t, "alice", "a2")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := alice2.QueryCall(t.Context(), short.CallID)
		must(t, err)
		if info.State == client.CallEnded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short call 10 s after restart: %+v", info)
		}
	}
	must(t, second(restarted.login(t, "carol", "c2").CallCancel(t.Context(), long.CallID, nil, client.OpConfig{})))
	if got := gauge(t, restarted, "dialtone_deadlines_pending"); got != "0" {
		t.Errorf("dialtone_deadlines_pending after the cancel = %s, want 0", got)
	}
}

// dialtone_sessions comes back down after a heartbeat kick (R6.1) too, and never counts a
// connection refused for the limit of connections not logged in; a refused login is counted
// under op="login" with its code, and each kick under its reason.
func TestE2EMetricsSessionsAfterHeartbeatKickAndRefusals(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "100ms", "--heartbeat-timeout", "400ms", "--log-retention", "1s",
		"--max-unauthenticated-per-ip", "1")
	silent := ts.raw(t)
	silent.login("alice")
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	silent.closed() // kicked: no heartbeat within 400ms
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	waitMetric(t, ts, `dialtone_kicks_total{reason="heartbeatTimeout"}`, `dialtone_kicks_total{reason="heartbeatTimeout"} 1`)

	pending := ts.raw(t) // takes the one place of a connection not logged in
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 1")
	extra := ts.raw(t)
	if c := extra.errorCode(); c != protocol.CodeRateLimited {
		t.Errorf("connection past the limit: code %d, want %d", c, protocol.CodeRateLimited)
	}
	extra.closed()
	if got := gauge(t, ts, "dialtone_sessions"); got != "1" {
		t.Errorf("dialtone_sessions = %s with one connection open, want 1", got)
	}

	pending.send(`{"id":1,"op":"login","data":{"token":"not-a-token","deviceID":"x"}}`)
	if c := pending.errorCode(); c != protocol.CodeAuthFailed {
		t.Errorf("login with a bad token: code %d, want %d", c, protocol.CodeAuthFailed)
	}
	pending.closed()
	waitMetric(t, ts, "dialtone_sessions ", "dialtone_sessions 0")
	waitMetric(t, ts, `dialtone_operations_total{code="6000291",op="login"}`,
		`dialtone_operations_total{code="6000291",op="login"} 1`)
	waitMetric(t, ts, `dialtone_kicks_total{reason="authFailed"}`, `dialtone_kicks_total{reason="authFailed"} 1`)
}

// A configured delivery's results are each shown at 0 from the start, as the kicks' reasons
// are: a counter series that appears only at its first increment hides that increment from
// increase() and rate(), so an alert on the first dropped webhook or push would not fire.
// Deliveries not configured show no series.
func TestE2EMetricsOutboxResultsShownFromTheStart(t *testing.T) {
	hooks := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hooks.Close)
	ts := startServer(t, "--webhook-url", hooks.URL, "--webhook-secret", hookSecret)
	for _, result := range []string{"delivered", "failed", "dropped"} {
		series := `dialtone_outbox_attempts_total{kind="webhook",result="` + result + `"}`
		if got := metric(t, ts, series); got != series+" 0" {
			t.Errorf("before any delivery: %q, want %q", got, series+" 0")
		}
	}
	if got := metric(t, ts, `dialtone_outbox_attempts_total{kind="push"`); got != "" {
		t.Errorf("with no push provider: %q, want no push series", got)
	}
}

// TestE2EMetricsOperationsShownFromTheStart: every op the server answers has its success
// series at 0 before its first request, so increase() and rate() see that request (a series
// that appears at its first increment hides it).
func TestE2EMetricsOperationsShownFromTheStart(t *testing.T) {
	ts := startServer(t)
	for _, op := range []string{"login", "logout", "heartbeat", "callInvite", "callCancel", "callAccept",
		"callReject", "callingInvite", "callJoin", "callQuit", "callEnd", "callReceived",
		"queryCallInvitationList", "queryCall", "pushRegister", "pushUnregister"} {
		series := `dialtone_operations_total{code="0",op="` + op + `"}`
		if got := metric(t, ts, series); got != series+" 0" {
			t.Errorf("before any request: %q, want %q", got, series+" 0")
		}
		series = `dialtone_operation_seconds_count{op="` + op + `"}`
		if got := metric(t, ts, series); got != series+" 0" {
			t.Errorf("before any request: %q, want %q", got, series+" 0")
		}
	}
}
