//go:build !linux

package wsconn

// sysWrite is empty where net.Buffers makes the writev system calls (writeVector).
type sysWrite struct{}

// writeVector writes v.vec to c's connection and returns how many bytes it wrote.
func (c *Conn) writeVector(v *vector) (int64, error) { return v.vec.WriteTo(c.nc) }
