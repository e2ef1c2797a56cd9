// Package protocol is Dialtone's public wire contract: the JSON envelopes, operation and event
// names, their data shapes, the enumerations and the error codes that every client (Go SDK,
// browser SDK, CLI, third parties) and the server speak over the WebSocket at /v1/ws.
//
// It imports only the standard library and holds no behaviour beyond encoding: what the server
// does with each operation is described in docs/behaviour.md, the bytes in docs/protocol.md.
//
// The contract only grows: new optional fields, ops and events may be added; the meaning of an
// existing one never changes. Decoders ignore fields they do not know.
package protocol

// Path is the HTTP path of the WebSocket endpoint.
const Path = "/v1/ws"

// MaxInteger is the largest integer on the wire: integers fit in 53 bits, so that every
// client, JavaScript included, reads them exactly (protocol.md "Shapes").
const MaxInteger = 1<<53 - 1

// MaxFrameBytes is the largest frame the server accepts from a client; a larger frame closes
// the connection with WebSocket status 1009.
const MaxFrameBytes = 64 << 10

// MaxServerFrameBytes is the largest frame a client must accept from the server. Server frames
// may exceed MaxFrameBytes: a page of queryCallInvitationList holds up to 100 calls of up to
// 20 users each.
const MaxServerFrameBytes = 16 << 20
