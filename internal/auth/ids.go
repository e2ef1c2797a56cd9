package auth

// MaxUserIDBytes and MaxDeviceIDBytes bound identifiers (behaviour §1).
const (
	MaxUserIDBytes   = 32
	MaxDeviceIDBytes = 64
)

// ValidUserID reports whether id is a userID of behaviour §1: 1–32 bytes, each an ASCII
// letter, digit or one of !#$%&()+-:;<=.>?@[]^_{}|~.
func ValidUserID(id string) bool { return validID(id, MaxUserIDBytes) }

// ValidDeviceID reports whether id is a deviceID of behaviour §1: 1–64 bytes of the userID
// charset.
func ValidDeviceID(id string) bool { return validID(id, MaxDeviceIDBytes) }

func validID(id string, max int) bool {
	if len(id) == 0 || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '(', ')', '+', '-', ':', ';', '<', '=', '.', '>', '?', '@',
		'[', ']', '^', '_', '{', '}', '|', '~':
		return true
	}
	return false
}
