package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSDKUnit runs the browser SDK's unit tests (every *_test.mjs file: resume, duplicate events,
// retries with the same idempotency key, kicks, errors) with Node.js's test runner. Where
// Node.js 18 or later is not installed it is skipped, unless CI is set: there it fails.
func TestSDKUnit(t *testing.T) {
	missing := func(msg string) {
		t.Helper()
		msg += "; install Node.js 18+ (apt-get install -y nodejs) to run the browser SDK's unit tests"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	out, err := exec.Command(node, "--version").Output()
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	if err != nil || major < 18 {
		missing("node " + strings.TrimSpace(string(out)) + " is older than 18")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := filepath.Glob("*_test.mjs")
	if err != nil || len(files) == 0 {
		t.Fatalf("no *_test.mjs files found (%v)", err)
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"--test"}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --test %s: %v\n%s", strings.Join(files, " "), err, out)
	}
}
