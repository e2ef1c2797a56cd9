package call

import (
	"testing"
)

// byteChooser draws choices from fuzz input; when the bytes run out every choice is 0.
type byteChooser struct{ data []byte }

func (b *byteChooser) intn(n int, _ string) int {
	if len(b.data) == 0 || n <= 1 {
		return 0
	}
	v := int(b.data[0])
	if n > 256 && len(b.data) > 1 {
		v = v<<8 | int(b.data[1])
		b.data = b.data[1:]
	}
	b.data = b.data[1:]
	return v % n
}

// FuzzApply drives Create, Expire and Apply from fuzz bytes (the same generator as the property
// test), checking that nothing panics and every invariant holds after every change.
func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		"",
		"\x05\x00\x01\x00\x01\x02\x01\x00\x01\x01\x00\x01\x00\x10",
		"\x08\x01\x02\x01\x01\x03\x01\x02\x05\x01\x01\x01\x00\x00\x14\x20\x01\x02\x01\x01\x01\x20\x01\x00\x01\x07",
		"\x09\x01\x00\x02\x01\x04\x01\x02\x03\x04\x0a\x01\x00\x01\x20\x00\x1e\x20\x02\x01\x00\x05\x03\x01\x02\x03\x05\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		drive(t, &byteChooser{data: data})
	})
}
