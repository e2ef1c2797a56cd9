// Package switchboard is the shell around internal/call: it serialises inputs per call, loads
// the call, applies the due deadlines and the input, enforces the rules that span calls (busy
// R3.1/R3.3/R3.7 and glare R3.3b, device loss R6.1/R4.3/R6.4, idempotency R7.3), commits the
// whole decision in one transaction (calls, per-user event log entries, busy records,
// idempotency record) and only then replies; the store hands the committed events to its
// Publisher, on their way to the connected devices.
//
// It declares what it needs: Store (durable state, with its Publisher) and Clock (time).
// Concrete types are chosen by internal/server, which cmd/dialtoned runs.
package switchboard
