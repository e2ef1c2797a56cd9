package web_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSDKUnit runs the browser SDK's unit tests (dialtone_test.mjs: resume, duplicate events,
// retries with the same idempotency key, kicks, errors) with Node.js's test runner. It is
// skipped where Node.js 18 or later is not installed.
func TestSDKUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found; install Node.js 18+ to run the browser SDK's unit tests")
	}
	out, err := exec.Command(node, "--version").Output()
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	if err != nil || major < 18 {
		t.Skipf("node %s is older than 18; its test runner is needed", strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "dialtone_test.mjs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node --test dialtone_test.mjs: %v\n%s", err, out)
	}
}
