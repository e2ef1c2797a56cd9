package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/api.md's Examples run as written against a server started with their KEY as --api-key:
// each curl line gets the status the comment under it shows (200 when none), and the answer
// has the fields the comment shows, with its error code. The first call's callID stands for
// "c9…" in the later lines, as a reader pastes it.
func TestAPIExamplesRunAsShown(t *testing.T) {
	section := docsSection(t, "docs/api.md", "## Examples")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("docs/api.md's Examples have no sh block")
	}
	text := strings.ReplaceAll(block[1], "\\\n", " ")
	key := regexp.MustCompile(`(?m)^KEY=(\S+)$`).FindStringSubmatch(text)
	if key == nil {
		t.Fatal("the Examples set no KEY")
	}
	ts := startServer(t, "--api-key", key[1])

	type example struct{ command, comment string }
	var examples []example
	for line := range strings.SplitSeq(text, "\n") {
		switch {
		case strings.HasPrefix(line, "curl "):
			examples = append(examples, example{command: line})
		case strings.HasPrefix(line, "# ") && len(examples) > 0:
			examples[len(examples)-1].comment = strings.TrimPrefix(line, "# ")
		}
	}
	if len(examples) == 0 {
		t.Fatal("the Examples run no curl")
	}
	callID := ""
	for _, ex := range examples {
		cmdline := strings.ReplaceAll(ex.command, "$(openssl rand -hex 16)", "0123456789abcdef0123456789abcdef")
		if callID != "" {
			cmdline = strings.ReplaceAll(cmdline, "c9…", callID)
		}
		// The shell splits the line into curl's arguments, each on a line of its own.
		out, err := exec.Command("sh", "-c", "KEY="+key[1]+"\nset -- "+cmdline+"\nprintf '%s\\n' \"$@\"").Output()
		must(t, err)
		args := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")[1:] // after "curl"
		method, url, body := "GET", "", ""
		header := http.Header{}
		for i := 0; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-X":
				i++
				method = args[i]
			case a == "-H":
				i++
				name, value, _ := strings.Cut(args[i], ":")
				header.Add(name, strings.TrimSpace(value))
			case a == "-d":
				i++
				body = args[i]
				if method == "GET" {
					method = "POST"
				}
			case strings.HasPrefix(a, "http://"):
				url = strings.Replace(a, "localhost:3425", ts.Addr, 1)
			}
		}
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		must(t, err)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)

		wantStatus, want := 200, ex.comment
		if m := regexp.MustCompile(`^HTTP (\d+) (.*)$`).FindStringSubmatch(want); m != nil {
			wantStatus, _ = strconv.Atoi(m[1])
			want = m[2]
		}
		if resp.StatusCode != wantStatus {
			t.Errorf("%s: status %d, the docs show %d; answer %s", ex.command, resp.StatusCode, wantStatus, got)
			continue
		}
		var answer map[string]any
		if err := json.Unmarshal(got, &answer); err != nil {
			t.Errorf("%s: the answer is no JSON object: %s", ex.command, got)
			continue
		}
		if id, ok := answer["callID"].(string); ok && callID == "" {
			callID = id
		}
		if want == "" {
			continue
		}
		want = want[:strings.LastIndex(want, "}")+1] // the JSON, without the remark after it
		for _, m := range regexp.MustCompile(`"(\w+)":`).FindAllStringSubmatch(want, -1) {
			if !strings.Contains(string(got), `"`+m[1]+`":`) {
				t.Errorf("%s: the answer has no %s, which the docs show: %s", ex.command, m[1], got)
			}
		}
		for name := range answer {
			if !strings.Contains(want, `"`+name+`":`) {
				t.Errorf("%s: the answer has %s, which the docs do not show (%s)", ex.command, name, want)
			}
		}
		if m := regexp.MustCompile(`"code":(\d+)`).FindStringSubmatch(want); m != nil &&
			!strings.Contains(string(got), `"code":`+m[1]) {
			t.Errorf("%s: answer %s, the docs show code %s", ex.command, got, m[1])
		}
	}
	if callID == "" {
		t.Error("no example created a call")
	}
}
