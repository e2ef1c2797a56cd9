package config

import (
	"slices"
	"strings"
)

// envPrefix begins the name of every environment variable of Dialtone.
const envPrefix = "DIALTONE_"

// cliEnvVars are the variables of Dialtone that are no server setting, so that a server
// started where they are set does not warn about them: the dialtone CLI's (cmd/dialtone, the
// defaults of its --url and --token, its DIALTONE_SECRET and DIALTONE_AUDIENCE being the
// server's too; TestCLIVariablesAreKnown keeps the list complete) and the switches of the
// project's own test runs (TestTestSwitchesAreKnown keeps those complete).
var cliEnvVars = []string{
	"DIALTONE_URL", "DIALTONE_TOKEN",
	"DIALTONE_SOAK", "DIALTONE_UPDATE_SCREENSHOTS", "DIALTONE_CHROMIUM",
}

// UnknownVar is an environment variable named like Dialtone's that no one reads.
type UnknownVar struct {
	Name    string // the variable, as set
	Closest string // the setting's variable it most likely misspells, or ""
}

// UnknownEnv returns, sorted by name, the variables of environ (os.Environ's "NAME=value"
// form) that begin with DIALTONE_, are not empty (an empty one counts as unset) and are read
// by neither the server (a setting's variable or DIALTONE_CONFIG) nor the CLI. Such a
// variable is most likely a misspelling whose setting keeps its default; Parse ignores it.
func UnknownEnv(environ []string) []UnknownVar {
	known := knownEnvVars()
	var out []UnknownVar
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || value == "" || slices.Contains(known, name) ||
			slices.Contains(cliEnvVars, name) {
			continue
		}
		out = append(out, UnknownVar{Name: name, Closest: closest(name, known)})
	}
	slices.SortFunc(out, func(a, b UnknownVar) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// knownEnvVars returns the variables the server reads: --config's and every setting's.
func knownEnvVars() []string {
	names := []string{EnvVar(configSetting.name)}
	for _, s := range settings() {
		names = append(names, EnvVar(s.name))
	}
	return names
}

// closest returns the candidate nearest to name in edit distance, the first of equals, when
// it is near enough to be a misspelling of it (at most one edit per four letters of its part
// after the prefix, and at least one), else "".
func closest(name string, candidates []string) string {
	best, bestDist := "", max(1, len(strings.TrimPrefix(name, envPrefix))/4)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
