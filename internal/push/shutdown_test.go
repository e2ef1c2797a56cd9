package push

import (
	"context"
	"sync/atomic"
	"testing"
)

// cancelledMarks is the store as SQLite is: an operation whose context has ended fails.
type cancelledMarks struct{ *memStore }

func (s cancelledMarks) ClearInvitationPushed(ctx context.Context, callID, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.memStore.ClearInvitationPushed(ctx, callID, userID)
}

// §9: a withdrawal every target took just as the shutdown began (its attempt's context ends as
// the providers answer) is done with: its mark goes and Deliver succeeds, so the outbox deletes
// it, and the next start does not send the withdrawal again.
func TestDispatchWithdrawalTakenAsShutdownBeginsIsDone(t *testing.T) {
	e := newDispatchEnv(t)
	e.deliver(e.record(KindInvitation, "bob", false), "bob-1 invitation", "bob-2 invitation")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var sent atomic.Int32
	d := NewDispatcher(DispatcherConfig{Targets: e.store, Marks: cancelledMarks{e.store},
		Providers: map[string]Provider{"fcm": providerFunc(func(context.Context, Target, Message) error {
			if sent.Add(1) == 2 {
				cancel() // the shutdown begins as the last target takes the withdrawal
			}
			return nil
		})}})
	if err := d.Deliver(ctx, e.record(KindWithdrawal, "bob", false)); err != nil {
		t.Errorf("Deliver of a withdrawal every target took = %v, want nil: the next start would send it again", err)
	}
	if pushed, _ := e.store.InvitationPushed(t.Context(), "c1", "bob"); pushed {
		t.Error("the invitation mark is still there: the next start would send the withdrawal again")
	}
}
