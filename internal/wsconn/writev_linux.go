package wsconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// sysWrite is what writeVector keeps with a vector, so that a write allocates nothing: the
// list of buffers of a writev system call, and the state of the write.
type sysWrite struct {
	iovecs  [framesPerWrite * (1 + MaxParts)]syscall.Iovec
	ready   func(fd uintptr) bool // the vector's writeReady, made once
	nc      net.Conn              // the connection written, whose deadline moves on
	timeout time.Duration         // after each frame written whole
	whole   int                   // the frames written whole so far
	wrote   int64
	failed  error
}

// writeVector writes v's frames to c's connection, each given timeout from the end of the one
// before, and returns how many bytes it wrote. On a socket
// it makes the writev system calls itself, with v's list of buffers: net.Buffers would have
// the socket keep the list of its largest writev for as long as it is open (over a kilobyte
// for framesPerWrite frames), on every idle connection that was once written a batch. As
// net.Buffers does, it writes what is left after a short write, makes an interrupted call
// again, and waits for room in the socket's buffer until the write deadline, which it moves
// on each time a frame has been written whole.
func (c *Conn) writeVector(v *vector, timeout time.Duration) (int64, error) {
	if c.raw == nil {
		return c.writeEach(v, timeout)
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	if v.sys.ready == nil {
		v.sys.ready = v.writeReady
	}
	v.sys.nc, v.sys.timeout, v.sys.whole, v.sys.wrote, v.sys.failed = c.nc, timeout, 0, 0, nil
	err := c.raw.Write(v.sys.ready)
	if err == nil {
		err = v.sys.failed
	}
	v.sys.nc = nil
	return v.sys.wrote, err
}

// writeReady writes v.vec to the socket fd until it is written or fails, and returns false when
// the socket's buffer is full: syscall.RawConn.Write then waits for room and calls it again.
func (v *vector) writeReady(fd uintptr) bool {
	for len(v.vec) > 0 {
		wrote, errno := v.writev(fd)
		v.sys.wrote += wrote
		consume(&v.vec, wrote)
		if err := v.framesWritten(); err != nil {
			v.sys.failed = err
			return true
		}
		switch {
		case errno == syscall.EAGAIN:
			return false
		case errno == syscall.EINTR:
		case errno != 0:
			v.sys.failed = os.NewSyscallError("writev", errno)
			return true
		case wrote == 0:
			v.sys.failed = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}

// writev makes one writev system call of v.vec, whose buffers are none of them empty (fill).
func (v *vector) writev(fd uintptr) (int64, syscall.Errno) {
	iovecs := v.sys.iovecs[:len(v.vec)]
	for i, b := range v.vec {
		iovecs[i].Base = &b[0]
		iovecs[i].SetLen(len(b))
	}
	wrote, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iovecs[0])), uintptr(len(iovecs)))
	clear(iovecs)
	if errno != 0 {
		return 0, errno
	}
	return int64(wrote), 0
}

// consume drops the first n bytes of vec.
func consume(vec *net.Buffers, n int64) {
	for len(*vec) > 0 && n >= int64(len((*vec)[0])) {
		n -= int64(len((*vec)[0]))
		*vec = (*vec)[1:]
	}
	if n > 0 {
		(*vec)[0] = (*vec)[0][n:]
	}
}

// framesWritten moves the write deadline on when frames have been written whole since it was
// set and others are left to write: each frame has the timeout from the end of the one before.
func (v *vector) framesWritten() error {
	whole := v.wholeFrames(v.sys.wrote)
	if whole == v.sys.whole || len(v.vec) == 0 {
		return nil
	}
	v.sys.whole = whole
	return v.sys.nc.SetWriteDeadline(time.Now().Add(v.sys.timeout))
}
