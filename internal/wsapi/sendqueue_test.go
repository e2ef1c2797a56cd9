package wsapi

import (
	"sync"
	"testing"
	"time"
)

// The writer ending after a kick or a failed write (markClosed) and the session ending (stop)
// may both find the queue finished at once: done is closed once, without a panic.
func TestSendQueueFinishesOnce(t *testing.T) {
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		q := newSendQueue(nil, 8, 0, func([]byte) {})
		q.writing = true // as while the writer runs
		var ready, wg sync.WaitGroup
		ready.Add(1)
		wg.Add(2)
		go func() { defer wg.Done(); ready.Wait(); q.markClosed() }()
		go func() { defer wg.Done(); ready.Wait(); q.stop() }()
		ready.Done()
		wg.Wait()
		<-q.done
	}
}
