//go:build !linux

package wsconn

import "time"

// sysWrite is empty where net.Buffers makes the writev system calls (writeVector).
type sysWrite struct{}

// writeVector writes v's frames to c's connection, each given timeout from the end of the one
// before, and returns how many bytes it wrote.
func (c *Conn) writeVector(v *vector, timeout time.Duration) (int64, error) {
	return c.writeEach(v, timeout)
}
