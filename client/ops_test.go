package client

import (
	"context"
	"testing"

	"github.com/dialtone/dialtone/protocol"
)

// Every operation sends its op with the data of protocol.md: zero config values left out
// (timeout 0 = 90 s, mode absent = General, no extendedData), a callCancel without invitees
// as [] (the whole call), and an idempotency key exactly when it changes state (R7.3), a new
// one on every call of a method.
func TestOperationsOnTheWire(t *testing.T) {
	fs := newFakeServer(t)
	c, _ := connect(t, fs, Options{})
	ctx := testCtx(t)
	push := &PushConfig{Title: "Alice"}
	tests := []struct {
		do       func(context.Context) error
		op, data string
		mutating bool
	}{
		{func(ctx context.Context) error {
			_, err := c.CallInvite(ctx, []string{"bob", "carol"}, InviteConfig{})
			return err
		}, protocol.OpCallInvite, `{"invitees":["bob","carol"],"config":{}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallInvite(ctx, []string{"bob"}, InviteConfig{Timeout: 30, Mode: ModeAdvanced,
				ExtendedData: "x", PushConfig: push, EnableNotReceivedCheck: true})
			return err
		}, protocol.OpCallInvite, `{"invitees":["bob"],"config":{"timeout":30,"mode":1,"extendedData":"x","pushConfig":{"title":"Alice"},"enableNotReceivedCheck":true}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallCancel(ctx, "c1", nil, OpConfig{})
			return err
		}, protocol.OpCallCancel, `{"callID":"c1","invitees":[],"config":{}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallCancel(ctx, "c1", []string{"bob"}, OpConfig{ExtendedData: "x", PushConfig: push})
			return err
		}, protocol.OpCallCancel, `{"callID":"c1","invitees":["bob"],"config":{"extendedData":"x","pushConfig":{"title":"Alice"}}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{ExtendedData: "x"})
			return err
		}, protocol.OpCallAccept, `{"callID":"c1","config":{"extendedData":"x"}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallAccept(ctx, "c1", OpConfig{ExtendedData: "x"}) // the same again: a new key
			return err
		}, protocol.OpCallAccept, `{"callID":"c1","config":{"extendedData":"x"}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallReject(ctx, "c1", OpConfig{})
			return err
		}, protocol.OpCallReject, `{"callID":"c1","config":{}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallingInvite(ctx, "c1", []string{"dave"}, CallingInviteConfig{Timeout: 20, ExtendedData: "x", PushConfig: push})
			return err
		}, protocol.OpCallingInvite, `{"callID":"c1","invitees":["dave"],"config":{"timeout":20,"extendedData":"x","pushConfig":{"title":"Alice"}}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallJoin(ctx, "c1", OpConfig{})
			return err
		}, protocol.OpCallJoin, `{"callID":"c1","config":{}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallQuit(ctx, "c1", OpConfig{PushConfig: push})
			return err
		}, protocol.OpCallQuit, `{"callID":"c1","config":{"pushConfig":{"title":"Alice"}}}`, true},
		{func(ctx context.Context) error {
			_, err := c.CallEnd(ctx, "c1", OpConfig{ExtendedData: "bye"})
			return err
		}, protocol.OpCallEnd, `{"callID":"c1","config":{"extendedData":"bye"}}`, true},
		{func(ctx context.Context) error { return c.CallReceived(ctx, "c1") },
			protocol.OpCallReceived, `{"callID":"c1"}`, false},
		{func(ctx context.Context) error {
			_, err := c.QueryCallInvitationList(ctx, 0, 0)
			return err
		}, protocol.OpQueryCallInvitationList, `{"config":{}}`, false},
		{func(ctx context.Context) error {
			_, err := c.QueryCallInvitationList(ctx, 50, 7)
			return err
		}, protocol.OpQueryCallInvitationList, `{"config":{"count":50,"nextFlag":7}}`, false},
		{func(ctx context.Context) error {
			_, err := c.QueryCall(ctx, "c1")
			return err
		}, protocol.OpQueryCall, `{"callID":"c1"}`, false},
		{func(ctx context.Context) error {
			return c.PushRegister(ctx, PushTarget{Provider: protocol.PushProviderAPNs, Token: "t", VoIP: true, BundleID: "b"})
		}, protocol.OpPushRegister, `{"provider":"apns","token":"t","voip":true,"bundleID":"b"}`, false},
		{func(ctx context.Context) error { return c.PushUnregister(ctx, protocol.PushProviderFCM, "t") },
			protocol.OpPushUnregister, `{"provider":"fcm","token":"t"}`, false},
	}
	keys := map[string]bool{}
	for _, tt := range tests {
		if err := tt.do(ctx); err != nil {
			t.Fatalf("%s: %v", tt.op, err)
		}
		req := nextOp(t, fs, tt.op)
		if string(req.Data) != tt.data {
			t.Errorf("%s data %s, want %s", tt.op, req.Data, tt.data)
		}
		switch {
		case !tt.mutating && req.Idem != "":
			t.Errorf("%s carries idempotency key %q; it changes no state", tt.op, req.Idem)
		case tt.mutating && req.Idem == "":
			t.Errorf("%s carries no idempotency key", tt.op)
		case tt.mutating && keys[req.Idem]:
			t.Errorf("%s reuses the key %q of an earlier call", tt.op, req.Idem)
		}
		keys[req.Idem] = true
	}
}
