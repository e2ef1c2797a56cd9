package web_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/web"
)

// TestServedFiles checks that the real server serves the embedded page and SDK, every module
// the SDK imports included, with the types browsers require, and the --dev endpoints only in
// --dev.
func TestServedFiles(t *testing.T) {
	dev := servertest.Start(t)
	base := "http://" + dev.Addr
	want := map[string]string{
		"/":              "text/html; charset=utf-8",
		"/index.html":    "text/html; charset=utf-8",
		"/dialtone.js":   "text/javascript; charset=utf-8",
		"/demo.js":       "text/javascript; charset=utf-8",
		"/demo.css":      "text/css; charset=utf-8",
		"/dialtone.d.ts": "text/plain; charset=utf-8",
	}
	for _, name := range pageFiles(t) {
		if path.Ext(name) == ".js" {
			want["/"+name] = "text/javascript; charset=utf-8" // a module script of another type is refused
		}
	}
	for path, wantType := range want {
		res, body := get(t, base+path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != wantType {
			t.Errorf("GET %s: %d %q, want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), wantType)
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", path)
		}
	}
	// The page runs under a Content-Security-Policy that allows only its own origin's
	// scripts, styles and connections, and no framing (TestBrowserDemo drives it under it).
	res, _ := get(t, base+"/")
	for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'self'; " +
		"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("GET /: %s %q, want %q", name, got, want)
		}
	}
	if res, _ := get(t, base+"/nope.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope.js: %d, want 404", res.StatusCode)
	}

	// --dev: a token for a valid name, 400 for an invalid one, 415 without JSON.
	res, body := post(t, base+"/dev/token", "application/json", `{"user":"alice"}`)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"token":"ey`) {
		t.Errorf("POST /dev/token: %d %s", res.StatusCode, body)
	}
	if res, _ := post(t, base+"/dev/token", "application/json", `{"user":"no spaces"}`); res.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /dev/token with an invalid user: %d, want 400", res.StatusCode)
	}
	if res, _ := post(t, base+"/dev/token", "application/x-www-form-urlencoded", `user=alice`); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST /dev/token as a form: %d, want 415", res.StatusCode)
	}
	if res, body := get(t, base+"/dev/users"); res.StatusCode != http.StatusOK || body != "{\"users\":[]}\n" {
		t.Errorf("GET /dev/users before any login: %d %q", res.StatusCode, body)
	}

	// Users who logged in are listed, and stay listed after they leave.
	for _, user := range []string{"zed", "amy"} {
		c, err := client.Dial(context.Background(), dev.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(context.Background(), servertest.Token(t, user), "d1"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if res, body := get(t, base+"/dev/users"); res.StatusCode != http.StatusOK || body != "{\"users\":[\"amy\",\"zed\"]}\n" {
		t.Errorf("GET /dev/users after two logins: %d %q", res.StatusCode, body)
	}

	// Without --dev the page is served, the dev endpoints are not.
	prod := servertest.Start(t, "--dev=false")
	base = "http://" + prod.Addr
	if res, _ := get(t, base+"/"); res.StatusCode != http.StatusOK {
		t.Errorf("GET / without --dev: %d, want 200", res.StatusCode)
	}
	if res, _ := get(t, base+"/dev/users"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /dev/users without --dev: %d, want 404", res.StatusCode)
	}
	if res, _ := post(t, base+"/dev/token", "application/json", `{"user":"alice"}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("POST /dev/token without --dev: %d, want 404", res.StatusCode)
	}
}

// TestEmbeddedFiles checks that every file the page loads is embedded, every module the SDK
// imports included, and nothing else but the SDK's declarations: a module added to the SDK
// and not to embed.go fails it, as it would fail every page that imports the SDK.
func TestEmbeddedFiles(t *testing.T) {
	need := pageFiles(t)
	for _, name := range need {
		if b, err := fs.ReadFile(web.Files(), name); err != nil || len(b) == 0 {
			t.Errorf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
	embedded, err := fs.Glob(web.Files(), "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range embedded {
		if !slices.Contains(need, name) {
			t.Errorf("%s is embedded, but neither the page nor the SDK loads it", name)
		}
	}
}

// pageFiles returns the files a browser loads from the server, from the sources in this
// directory: index.html, what it references, and the modules that the scripts among them, and
// the SDK (dialtone.js), import, recursively; and dialtone.d.ts, served for reading.
func pageFiles(t *testing.T) []string {
	t.Helper()
	refs := regexp.MustCompile(`(?:src|href)="([^":]+)"`)
	imports := regexp.MustCompile(`(?:\bfrom|\bimport)\s*\(?\s*'\./([^']+)'`)
	files := []string{"index.html", "dialtone.js", "dialtone.d.ts"}
	for i := 0; i < len(files); i++ {
		src, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatalf("%s, which the page loads: %v", files[i], err)
		}
		var found [][]string
		switch path.Ext(files[i]) {
		case ".html":
			found = refs.FindAllStringSubmatch(string(src), -1)
		case ".js":
			found = imports.FindAllStringSubmatch(string(src), -1)
		}
		for _, m := range found {
			if !slices.Contains(files, m[1]) {
				files = append(files, m[1])
			}
		}
	}
	return files
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func post(t *testing.T, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	res, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}
