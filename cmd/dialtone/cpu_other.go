//go:build !unix

package main

import "time"

// processCPU is not known here: the reports leave out the tool's CPU.
func processCPU() (cpu time.Duration, ok bool) { return 0, false }
