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

export type AgreementOpened = EventOf<
  'AgreementOpened',
  { readonly agreementId: AgreementId; readonly name: string; readonly licenses: number; readonly bounds: LockPeriodBounds }
>;
export type AgreementChanged = EventOf<
  'AgreementChanged',
  { readonly agreementId: AgreementId; readonly name: string; readonly licenses: number; readonly bounds: LockPeriodBounds }
>;
export type AgreementClosed = EventOf<'AgreementClosed', { readonly agreementId: AgreementId }>;
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
/** A holder left; `freed` when it was the last one and the license is free again. */
export type LockReleased = EventOf<
  'LockReleased',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly holder: Holder; readonly freed: boolean }
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
  | KeyBound
  | KeyRevoked
  | LockGranted
  | LockRenewed
  | LockReleased
  | LockExpired
  | RequestDenied;

export type LeaseEventType = LeaseEvent['type'];
