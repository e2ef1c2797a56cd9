// Package web holds Dialtone's browser side: the dependency-free ES module SDK (dialtone.js,
// with TypeScript declarations in dialtone.d.ts) and the demo page that uses it (index.html,
// demo.js, demo.css). The server embeds these files and serves them at / (internal/httpapi).
// The package's tests drive the demo page in headless Chromium against the real server.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html demo.js demo.css dialtone.js dialtone.d.ts
var files embed.FS

// Files returns the files served at /: the SDK and the demo page.
func Files() fs.FS { return files }
