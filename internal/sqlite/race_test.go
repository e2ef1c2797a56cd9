//go:build race

package sqlite

// raceEnabled reports that the tests run with the race detector, under which SQLite (C
// translated to Go) runs many times slower: the longest runs scale down.
const raceEnabled = true
