package wire

// Messages of 6000270 (behaviour §8: internal error, retryable), the one code of a failure
// that is the server's, not the request's. The store's own error is logged, never sent.
const (
	// MsgInternal answers an op that failed inside the server for no reason told to clients.
	MsgInternal = "internal error"
	// MsgStorageUnavailable answers an op that failed while the database cannot be written (a
	// full disk, an I/O error, a read-only file system): every change fails until it can, and
	// the same request, repeated with its idempotency key, succeeds once it can (R7.1, R7.3).
	MsgStorageUnavailable = "storage unavailable, retry later"
	// MsgShuttingDown answers an op refused because the server is draining: repeat it on the
	// next connection, with its idempotency key.
	MsgShuttingDown = "server is shutting down"
)
