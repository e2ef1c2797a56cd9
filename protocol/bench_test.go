package protocol_test

import (
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// BenchmarkDecodeRequest decodes a callAccept request frame and its data, as the server does
// for every request.
func BenchmarkDecodeRequest(b *testing.B) {
	frame := []byte(`{"id":42,"op":"callAccept","data":{"callID":"-4f8Zx0aBcDeFgHiJkLmNoPq","config":{"extendedData":"hi"}},"idem":"k-0123456789abcdefghij"}`)
	b.ReportAllocs()
	for b.Loop() {
		req, err := protocol.DecodeRequest(frame)
		if err != nil {
			b.Fatal(err)
		}
		var d protocol.CallOpData
		if err := protocol.DecodeData(req.Data, &d); err != nil {
			b.Fatal(err)
		}
	}
}
