//go:build unix

package main

import (
	"math"
	"syscall"
)

// maxOpenFiles is how many files, connections included, this process may have open
// (ulimit -n; Go raises the soft limit to the hard one at start-up).
func maxOpenFiles() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(rl.Cur)
}
