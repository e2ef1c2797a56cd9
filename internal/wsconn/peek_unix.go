//go:build unix

package wsconn

import (
	"errors"
	"syscall"
)

// peek reports whether the socket fd may have something to read: a byte, its end or an error
// (the next read reports those). Only "nothing yet" (EAGAIN) is false; the byte is not taken.
func peek(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return !errors.Is(err, syscall.EAGAIN)
}
