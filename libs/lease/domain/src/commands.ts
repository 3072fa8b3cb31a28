import type { AgreementId, ConfigHash, GatewayKey, Holder, LockPeriodBounds, RequestId } from './values';

/**
 * Commands to the lease ledger. Every command names its agreement (the partition key: one writer
 * per agreement) and carries the id of the request that caused it (one outcome per request id).
 */
interface CommandOf<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: { readonly requestId: RequestId };
}

export type OpenAgreement = CommandOf<
  'OpenAgreement',
  { readonly agreementId: AgreementId; readonly name: string; readonly licenses: number; readonly bounds?: Partial<LockPeriodBounds> }
>;
export type ChangeAgreement = CommandOf<
  'ChangeAgreement',
  { readonly agreementId: AgreementId; readonly name?: string; readonly licenses?: number; readonly bounds?: Partial<LockPeriodBounds> }
>;
export type CloseAgreement = CommandOf<'CloseAgreement', { readonly agreementId: AgreementId }>;
export type BindKey = CommandOf<'BindKey', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
export type RevokeKey = CommandOf<'RevokeKey', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
/** A gateway asks to hold (or keep holding) the lock for its config hash. */
export type AcquireLock = CommandOf<
  'AcquireLock',
  {
    readonly agreementId: AgreementId;
    readonly configHash: ConfigHash;
    readonly holder: Holder;
    /** The gateway's wish; clamped to the agreement's bounds. */
    readonly requestedPeriodMs?: number;
  }
>;
/** A gateway gives up its share of a lock (its holder entry); the lock frees with its last holder. */
export type ReleaseLock = CommandOf<
  'ReleaseLock',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly holder: Holder }
>;
/** Time-driven, issued by the partition owner: record every lock whose expiry has passed. */
export type ExpireLocks = CommandOf<'ExpireLocks', { readonly agreementId: AgreementId }>;

export type LeaseCommand =
  | OpenAgreement
  | ChangeAgreement
  | CloseAgreement
  | BindKey
  | RevokeKey
  | AcquireLock
  | ReleaseLock
  | ExpireLocks;
