package goroutines

import (
	"strings"
	"testing"
)

// Stacks lists every goroutine, those parked in a test's own function included.
func TestStacksListsEveryGoroutine(t *testing.T) {
	release, parked := make(chan struct{}), make(chan struct{})
	defer close(release)
	go func() { close(parked); parkHere(release) }()
	<-parked
	for range 1000 {
		for _, g := range Stacks() {
			if strings.HasPrefix(g, "goroutine ") && strings.Contains(g, "goroutines.parkHere") {
				return
			}
		}
	}
	t.Fatal("the goroutine parked in parkHere is not listed")
}

//go:noinline
func parkHere(release chan struct{}) { <-release }
