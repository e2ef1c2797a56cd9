// TypeScript declarations of dialtone.js, the Dialtone browser SDK (docs/protocol.md).

export const PATH: '/v1/ws';

export type ConnectionState = 'Connecting' | 'Connected' | 'Reconnecting' | 'Disconnected';
export const ConnectionState: Readonly<{
  Connecting: 'Connecting'; Connected: 'Connected'; Reconnecting: 'Reconnecting'; Disconnected: 'Disconnected';
}>;

/** CallUserState wire values (behaviour §2). */
export const CallUserState: Readonly<{
  Unknown: -1; Inviting: 0; Accepted: 1; Rejected: 2; Cancelled: 3; Received: 5; Timeout: 6;
  Quit: 7; Ended: 8; NotYetReceived: 9; BeCancelled: 10;
}>;
export type CallUserState = (typeof CallUserState)[keyof typeof CallUserState];

export const CallState: Readonly<{ Unknown: -1; Started: 1; Ended: 2 }>;
export type CallState = (typeof CallState)[keyof typeof CallState];

export const CallMode: Readonly<{ General: 0; Advanced: 1 }>;
export type CallMode = (typeof CallMode)[keyof typeof CallMode];

/** Wire error codes (behaviour §8). */
export const ErrorCode: Readonly<{
  InvalidParameter: 6000001; UnknownOp: 6000002; NotLoggedIn: 6000121; Internal: 6000270;
  CancelAccepted: 6000271; TooManyUsers: 6000272; NotInviter: 6000273; StateForbids: 6000274;
  CallUnavailable: 6000276; NoValidInvitee: 6000281; AlreadyActive: 6000283;
  NotAdvanced: 6000286; Busy: 6000290; AuthFailed: 6000291; RateLimited: 6000292;
  TooManyDevices: 6000293;
}>;

export type KickReason =
  | 'replaced' | 'logout' | 'shutdown' | 'slowConsumer' | 'badFrames' | 'authFailed'
  | 'loginTimeout' | 'tooManyDevices' | 'heartbeatTimeout';
export const KickReasons: Readonly<Record<KickReason, { closeCode: number; retry: boolean }>>;

export const CallEvents: readonly CallEventName[];

/**
 * Why an operation or the client failed; code is the wire code for server refusals (and for a
 * request over the 64 KiB frame limit, refused by the client: InvalidParameter), else 0.
 */
export class DialtoneError extends Error {
  readonly name: 'DialtoneError';
  readonly code: number;
  /**
   * 'aborted': the operation's AbortSignal aborted (RequestOptions), its reason in cause.
   * 'protocol': the reply does not follow the protocol (its result not JSON, not an object of
   * the op's fields' types, or absent, a login result without userID, deviceID, headSeq,
   * caughtUp or serverTime, or its error without a code); the operation is not sent
   * again, and the connection stays (the Go SDK's ErrProtocol).
   * 'heartbeatTimeout': this client heard nothing from the server for the heartbeat timeout and
   * dropped the connection (a Reconnecting state's reason); the server's own heartbeatTimeout
   * kick is 'kicked'.
   */
  readonly reason:
    | 'server' | 'timeout' | 'aborted' | 'protocol' | 'closed' | 'loggedOut' | 'notLoggedIn' | 'alreadyLoggedIn'
    | 'kicked' | 'heartbeatTimeout' | 'network';
  /** The kick that ended the connection, when reason is 'kicked'. */
  readonly kick?: Kicked;
}

export interface PushConfig { title?: string; content?: string; payload?: string; resourcesID?: string }

export interface CallUserInfo {
  userID: string; state: CallUserState; inviter: string; extendedData: string;
  deadline: number; acceptTime: number; updateTime: number;
}

export interface CallInfo {
  callID: string; caller: string; inviter: string; mode: CallMode; state: CallState;
  extendedData: string; createTime: number; endTime: number; version: number;
  callUserList: CallUserInfo[];
}

export interface ErrorUserInfo { userID: string; reason: number }

export interface LoginResult {
  userID: string; deviceID: string; headSeq: number; caughtUp: boolean;
  heartbeatIntervalMs: number; heartbeatTimeoutMs: number; serverTime: number;
}

export interface InviteConfig {
  /** Seconds, 1..600; 0 or absent = 90. */
  timeout?: number; mode?: CallMode; extendedData?: string; pushConfig?: PushConfig;
  enableNotReceivedCheck?: boolean;
}
export interface OpConfig { extendedData?: string; pushConfig?: PushConfig }
export interface CallingInviteConfig { timeout?: number; extendedData?: string; pushConfig?: PushConfig }
/**
 * signal: once aborted, the operation rejects at once with DialtoneError 'aborted' (the signal's
 * reason as .cause), whether it was waiting to be sent, for a reconnection or for its reply,
 * which is then dropped; as the Go SDK's operation ends with its ctx. An operation that changes
 * a call may have been carried out all the same: try it again with the same idempotencyKey.
 */
export interface RequestOptions { signal?: AbortSignal }
/** idempotencyKey: 16–64 bytes of UTF-8 (a string without lone surrogates), at least 96 random bits (newIdempotencyKey()); default a fresh one. */
export interface CallOptions extends RequestOptions { idempotencyKey?: string }

export interface CallInviteResult { callID: string; timeout: number; errorUserList: ErrorUserInfo[]; callInfo: CallInfo }
export interface CallCancelResult { callID: string; errorInvitees: string[] }
export interface CallIDResult { callID: string }
export interface CallingInviteResult { callID: string; errorUserList: ErrorUserInfo[] }
export interface CallJoinResult { callID: string; createTime: number; joinTime: number; callUserList: CallUserInfo[]; extendedData: string }
export interface CallQuitResult { callID: string; createTime: number; acceptTime: number; quitTime: number }
export interface CallEndResult { callID: string; createTime: number; acceptTime: number; endTime: number }
export interface CallInvitationListResult { callList: CallInfo[]; nextFlag: number }

interface CallEventBase { callID: string; version: number }
export interface CallInvitationCreated extends CallEventBase {
  mode: CallMode; caller: string; extendedData: string; timeout: number; createTime: number; callUserList: CallUserInfo[];
}
export interface CallInvitationReceived extends CallEventBase {
  mode: CallMode; caller: string; inviter: string; extendedData: string;
  /** Whole seconds left, rounded up; prefer remainingRingTime(deadline). */
  timeout: number; deadline: number; createTime: number; callUserList: CallUserInfo[];
  /** True only for an invitation synthesized at login (R5.3). */
  synthetic?: boolean;
}
export interface CallInvitationCancelled extends CallEventBase { mode: CallMode; inviter: string; extendedData: string; callUserList: CallUserInfo[] }
export interface CallInvitationTimeout extends CallEventBase { mode: CallMode }
export interface CallInvitationEnded extends CallEventBase { mode: CallMode; caller: string; operatedUserID: string; extendedData: string; endTime: number }
export interface CallUserStateChanged extends CallEventBase { callUserList: CallUserInfo[]; callState?: CallState; endTime?: number }
export interface CallMainDeviceChanged extends CallEventBase { deviceID: string }
/**
 * A kick. reason is '' for a kicked event that told none and whose close named none (its retry
 * is then the event's, false when it had none): docs/behaviour.md §12, "A kick that tells no
 * reason".
 */
export interface Kicked { reason: KickReason | ''; retry: boolean }
export interface ConnectionStateChanged {
  state: ConnectionState;
  reason: DialtoneError | null;
  /**
   * Connected only: true when the events missed since this device's last processed one follow
   * (R7.2); false when they cannot (first login of the device, or a position the server no
   * longer holds): only the invitations still ringing follow (synthesized, R5.3), so calls
   * known from earlier events must be read again (queryCallInvitationList, queryCall).
   */
  caughtUp?: boolean;
}

/** The second argument of call-event listeners: the event name and its seq (0 when none). */
export interface EventMeta { event: CallEventName; seq: number }

export interface EventMap {
  callInvitationCreated: CallInvitationCreated;
  callInvitationReceived: CallInvitationReceived;
  callInvitationCancelled: CallInvitationCancelled;
  callInvitationTimeout: CallInvitationTimeout;
  callInvitationEnded: CallInvitationEnded;
  callUserStateChanged: CallUserStateChanged;
  callMainDeviceChanged: CallMainDeviceChanged;
}
export type CallEventName = keyof EventMap;

export interface DialtoneOptions {
  /** ws://, wss://, http://, https:// or a path; default the page's server, path /v1/ws. */
  url?: string;
  /** Where the last processed seq is kept per user and device; default localStorage, null: memory only. */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * How long an operation waits for its reply, retries across reconnections included (a
   * logout(), its wait for a login() or another logout() in flight too); a login() for its
   * result, from the call (its wait for another login or a logout in flight, its socket's
   * opening and its reply together); and a reconnection attempt for its token, socket and login
   * together (15000). As RequestTimeout bounds them in the Go SDK.
   */
  requestTimeoutMs?: number;
  /**
   * Returns the token for each reconnection's login; default: the token given to login(). One
   * that fails, or gives no token within requestTimeoutMs (the attempt's time), is asked
   * again, with backoff.
   * signal is aborted when the client stops waiting: after requestTimeoutMs (reason a
   * DialtoneError 'timeout'), or when the client finishes (close(), a final kick; reason the
   * client's end reason). A token given after that is not used.
   */
  tokenSource?: (signal: AbortSignal) => string | Promise<string>;
  WebSocket?: typeof WebSocket;
  /**
   * Where the browser tells the network is back ('online' events), which makes a reconnection
   * waiting out its backoff within half a second; default the page's window, null: none.
   */
  network?: EventTarget | null;
  logger?: { warn: (...args: unknown[]) => void };
  /**
   * The monotonic clock and the timers the client runs on (for tests: a virtual clock); default
   * performance.now() and the page's setTimeout and clearTimeout.
   */
  timers?: { now(): number; setTimeout(fn: () => void, ms: number): unknown; clearTimeout(timer: unknown): void };
}

export class Dialtone {
  constructor(options?: DialtoneOptions);
  readonly state: ConnectionState;
  readonly userID: string;
  readonly deviceID: string;
  readonly lastSeq: number | null;
  /** Server clock − local clock in ms. */
  readonly serverTimeOffset: number;
  serverNow(): number;
  /** Milliseconds an invitation with this deadline should still ring; 0: it must not ring. */
  remainingRingTime(deadlineMs: number): number;

  on<K extends CallEventName>(event: K, fn: (data: EventMap[K], meta: EventMeta) => void): () => void;
  on(event: 'connectionStateChanged', fn: (ev: ConnectionStateChanged) => void): () => void;
  /**
   * 'kicked': the server is closing the connection. The client closes it too, at once (a
   * normal close), so that a close lost on the network holds up nothing: what was in flight
   * on it is sent again after a reconnection or rejects with the kick, as when the server's
   * close comes.
   */
  on(event: 'kicked', fn: (ev: Kicked) => void): () => void;
  off(event: string, fn: (...args: any[]) => void): void;

  /**
   * Succeeds once per client; a refused login may be retried. Called while another login, or a
   * logout(), is in flight, it waits for it: then it rejects with 'alreadyLoggedIn' if the device
   * is logged in, with 'loggedOut' if that logout logged it out, and otherwise makes its own
   * attempt. Rejects with the refusal's code (AuthFailed, …), or with 'kicked' (.kick) when the
   * server kicked the connection before any reply; it never reconnects by itself. close()
   * before it settles, from a listener of the Connecting or Connected state it reports too,
   * makes it reject with 'closed'. requestTimeoutMs bounds it whole, from the call: past it, it
   * rejects with 'timeout'.
   */
  login(token: string, deviceID: string): Promise<LoginResult>;
  /**
   * Logs the device out and, once the server did (its reply, or its logout kick when the reply
   * was lost), finishes the client as by close(), reason 'loggedOut', before the promise
   * resolves. Sent again after the reconnection when its connection drops before the reply.
   * A logout() that rejects leaves the client running as it was, so the app can call logout()
   * again or close() (docs/behaviour.md §12, "A Go Logout that fails"): a refusal by the server
   * (6000270 when it cannot write; the connection stays logged in), 'protocol' (a reply that
   * does not follow the protocol), 'notLoggedIn' (no successful login()), 'aborted' (the
   * signal) or 'timeout' (requestTimeoutMs, from the call) before the server's answer: then the
   * logout may or may not have been carried out, and the client goes on (reconnecting, and
   * logging the device in again if it was), for a repeated logout() to settle it. The client
   * ends meanwhile only as it would without it: by close() ('closed'), or a kick or refused
   * login that forbids reconnecting, with whose reason logout() rejects. Logins and logouts run
   * one at a time: called while a login() or another logout() is in flight, it waits for it,
   * then rejects with 'loggedOut' if that logout logged the device out, and otherwise makes its
   * own attempt; the signal and requestTimeoutMs bound that wait too. As the Go SDK's Logout.
   */
  logout(options?: RequestOptions): Promise<void>;
  /**
   * Closes the connection and finishes the client, at once and for good. Before it returns,
   * pending operations have rejected with 'closed' and the listeners have had the last
   * connectionStateChanged, Disconnected with reason 'closed', even when the state was
   * Disconnected already; from then on no listener is called again, and every method rejects at
   * once with the client's end reason ('closed', 'loggedOut', or the kick or refusal that ended
   * it) without sending anything. It may be called any number of times, also with logout().
   * Called from a listener, it returns at once: the other listeners of the event being
   * dispatched still get that event, which counts as processed, then the last Disconnected
   * comes; no later event does. As the Go SDK's Close.
   */
  close(): void;

  /**
   * The operations that change a call take, last, CallOptions: an app that tries one again
   * after it failed without a reply ('timeout', 'aborted', 'network') passes the same
   * idempotencyKey, and gets the first reply if the first attempt was carried out after all
   * (behaviour R7.3). Every operation but login takes an AbortSignal (signal) in its last
   * argument; login is ended by close().
   */
  callInvite(invitees: string[], config?: InviteConfig, options?: CallOptions): Promise<CallInviteResult>;
  callCancel(callID: string, invitees?: string[], config?: OpConfig, options?: CallOptions): Promise<CallCancelResult>;
  callAccept(callID: string, config?: OpConfig, options?: CallOptions): Promise<CallIDResult>;
  callReject(callID: string, config?: OpConfig, options?: CallOptions): Promise<CallIDResult>;
  callingInvite(callID: string, invitees: string[], config?: CallingInviteConfig, options?: CallOptions): Promise<CallingInviteResult>;
  callJoin(callID: string, config?: OpConfig, options?: CallOptions): Promise<CallJoinResult>;
  callQuit(callID: string, config?: OpConfig, options?: CallOptions): Promise<CallQuitResult>;
  callEnd(callID: string, config?: OpConfig, options?: CallOptions): Promise<CallEndResult>;
  callReceived(callID: string, timeoutMs?: number, options?: RequestOptions): Promise<void>;
  queryCallInvitationList(count?: number, nextFlag?: number, options?: RequestOptions): Promise<CallInvitationListResult>;
  queryCall(callID: string, options?: RequestOptions): Promise<CallInfo>;
  pushRegister(target: PushTarget, options?: RequestOptions): Promise<void>;
  pushUnregister(provider: PushProvider, token: string, options?: RequestOptions): Promise<void>;
}

/** A push provider of protocol.md "Extensions: push targets". */
export type PushProvider = 'webhook' | 'fcm' | 'apns';

/** This device's push registration; bundleID is required for apns. */
export interface PushTarget {
  provider: PushProvider;
  token: string;
  voip?: boolean;
  bundleID?: string;
  appID?: string;
}

export function stateName(state: number): string;
export function remainingRingTime(deadlineMs: number, offsetMs: number, nowMs?: number): number;
export function backoff(minMs: number, maxMs: number, attempt: number, random?: () => number): number;
/** A new idempotency key: the time (ms) then 96 random bits, 24 URL-safe characters that sort by time. */
export function newIdempotencyKey(nowMs?: number): string;
export function tokenSubject(token: string): string;
export function wsURL(url?: string): string;
