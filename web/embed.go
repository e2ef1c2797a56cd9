// Package web holds Dialtone's browser side: the dependency-free ES module SDK (dialtone.js, the
// module apps import, with TypeScript declarations in dialtone.d.ts, and the dialtone-*.js
// modules it imports) and the demo page that uses it (index.html, demo.js, demo-alerts.js,
// demo-dom.js, demo.css). The server embeds these files and serves them at / (internal/httpapi).
// The package's tests drive the demo page and the SDK in headless Chromium against the real
// server.
package web

import (
	"embed"
	"io/fs"
)

// Every file the page loads, and every module dialtone.js imports, must be listed:
// TestEmbeddedFiles and TestServedFiles follow the page's references and the modules' imports.
//
//go:embed index.html demo.js demo.css dialtone.d.ts
//go:embed dialtone.js dialtone-wire.js dialtone-time.js dialtone-conn.js dialtone-delivery.js
//go:embed dialtone-receipts.js dialtone-reconnect.js
//go:embed demo-alerts.js demo-dom.js
var files embed.FS

// Files returns the files served at /: the SDK and the demo page.
func Files() fs.FS { return files }
