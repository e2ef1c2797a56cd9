// Dialtone browser SDK, part of dialtone.js: the automatic receipt of invitations (behaviour
// R5.1), once per invitation.

// Receipts acknowledges each callInvitationReceived with send(callID, deadline), which sends
// callReceived, again across reconnections until the invitation's deadline, and returns a
// promise that settles when it is answered or given up, and never rejects.
export class Receipts {
  #send;
  #onTheirWay = new Map(); // callID → its receipt not yet settled

  constructor(send) {
    this.#send = send;
  }

  // acknowledge sends the receipt of the invitation data. A synthesized invitation (R5.3) of a
  // call whose receipt is still on its way is not acknowledged twice: that receipt, sent again
  // after the login that the synthesized invitation follows, reaches the server after it. A
  // logged invitation always is (a re-invitation, R3.6, needs its own).
  acknowledge(data) {
    const callID = data.callID;
    if (data.synthetic === true && this.#onTheirWay.has(callID)) return;
    const receipt = this.#send(callID, data.deadline).finally(() => {
      if (this.#onTheirWay.get(callID) === receipt) this.#onTheirWay.delete(callID);
    });
    this.#onTheirWay.set(callID, receipt);
  }
}
