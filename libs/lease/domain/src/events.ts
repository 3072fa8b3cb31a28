import type {
  AgreementId,
  ConfigHash,
  DenialReason,
  EpochMs,
  GatewayKey,
  Holder,
  LockPeriodBounds,
  RequestId,
} from './values';

/** Every event records the request that caused it and when it was decided. */
export interface EventMetadata {
  readonly requestId: RequestId;
  readonly at: EpochMs;
}

interface EventOf<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

/** The whole agreement as opened or changed. `lingerMs` is written only when not 0 (absent: 0). */
interface AgreementData {
  readonly agreementId: AgreementId;
  readonly name: string;
  readonly licenses: number;
  readonly bounds: LockPeriodBounds;
  readonly lingerMs?: number;
}
export type AgreementOpened = EventOf<'AgreementOpened', AgreementData>;
export type AgreementChanged = EventOf<'AgreementChanged', AgreementData>;
export type AgreementClosed = EventOf<'AgreementClosed', { readonly agreementId: AgreementId }>;
/** Ops asked to bind `key`; the key's stream is asked to reserve it (it answers with KeyReserved or a refusal). */
export type KeyBindRequested = EventOf<'KeyBindRequested', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
export type KeyBound = EventOf<'KeyBound', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
export type KeyRevoked = EventOf<'KeyRevoked', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
export type LockGranted = EventOf<
  'LockGranted',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly holder: Holder; readonly expiresAt: EpochMs }
>;
/** A live lock's expiry moved later; `holder` is the gateway that renewed (maybe joining). */
export type LockRenewed = EventOf<
  'LockRenewed',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly holder: Holder; readonly expiresAt: EpochMs }
>;
/**
 * A holder left; `freed` when it was the last one and the license is free again. When the last holder
 * left but the lock stays counted against the licenses (the agreement's linger, or a support grant),
 * `keptUntil` says until when, and `freed` is false.
 */
export type LockReleased = EventOf<
  'LockReleased',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly holder: Holder; readonly freed: boolean; readonly keptUntil?: EpochMs }
>;
/**
 * Support locked `configHash` for gateway `key` until `until` (who, why; `overdraft` when the grant
 * exceeded the licenses). On a live lock it only keeps that lock at least until `until`.
 */
export type SupportLockIssued = EventOf<
  'SupportLockIssued',
  {
    readonly agreementId: AgreementId;
    readonly configHash: ConfigHash;
    readonly key: GatewayKey;
    readonly until: EpochMs;
    readonly issuedBy: string;
    readonly reason: string;
    readonly overdraft: boolean;
  }
>;
/**
 * Ops freed a lock at once. `holders` (the gateways that held it) are refused renewal of it until
 * `expiresAt`, the freed lock's expiry, after which their tokens are void anyway.
 */
export type LockForceReleased = EventOf<
  'LockForceReleased',
  {
    readonly agreementId: AgreementId;
    readonly configHash: ConfigHash;
    readonly holders: readonly Holder[];
    readonly expiresAt: EpochMs;
    readonly releasedBy: string;
    readonly reason: string;
  }
>;
export type LockExpired = EventOf<
  'LockExpired',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly expiredAt: EpochMs }
>;
export type RequestDenied = EventOf<
  'RequestDenied',
  {
    readonly agreementId: AgreementId;
    readonly reason: DenialReason;
    readonly command: string;
    readonly message: string;
    readonly key?: GatewayKey;
    readonly configHash?: ConfigHash;
  }
>;

export type LeaseEvent =
  | AgreementOpened
  | AgreementChanged
  | AgreementClosed
  | KeyBindRequested
  | KeyBound
  | KeyRevoked
  | LockGranted
  | LockRenewed
  | LockReleased
  | SupportLockIssued
  | LockForceReleased
  | LockExpired
  | RequestDenied;

export type LeaseEventType = LeaseEvent['type'];

/*
 * Events of a gateway key's stream (keyed by the key, on its partition): which agreement holds the
 * key. An agreement binds a key only once the key's stream reserved it for that agreement, and the
 * reservation is released only after the agreement revoked it, so no key is bound to two agreements.
 */
export type KeyReserved = EventOf<'KeyReserved', { readonly key: GatewayKey; readonly agreementId: AgreementId }>;
/** Refused because the key is reserved for (bound to) `heldBy`. */
export type KeyReservationRefused = EventOf<
  'KeyReservationRefused',
  { readonly key: GatewayKey; readonly agreementId: AgreementId; readonly heldBy: AgreementId; readonly message: string }
>;
export type KeyReleased = EventOf<'KeyReleased', { readonly key: GatewayKey; readonly agreementId: AgreementId }>;

export type KeyEvent = KeyReserved | KeyReservationRefused | KeyReleased;

/** Everything on the events topic besides ownership markers. */
export type LedgerEvent = LeaseEvent | KeyEvent;

export function isKeyEvent(event: LedgerEvent): event is KeyEvent {
  return event.type === 'KeyReserved' || event.type === 'KeyReservationRefused' || event.type === 'KeyReleased';
}

/** The id of the stream an event belongs to: its key on the events topic. */
export function streamOfEvent(event: LedgerEvent): string {
  return isKeyEvent(event) ? event.data.key : event.data.agreementId;
}
