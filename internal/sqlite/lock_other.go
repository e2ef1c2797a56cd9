//go:build !unix

package sqlite

import "os"

// lockFile does nothing where flock(2) is missing: one store per file is then up to the
// operator.
func lockFile(string) (*os.File, error) { return nil, nil }
