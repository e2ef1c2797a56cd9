// Package goroutines lists the goroutines of the process, for tests that check that what they
// ran left nothing behind.
package goroutines

import (
	"runtime"
	"strings"
)

// Stacks returns the stack of every goroutine of the process, each as runtime.Stack writes it:
// a header line ("goroutine N [state]:") and its frames.
func Stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}
