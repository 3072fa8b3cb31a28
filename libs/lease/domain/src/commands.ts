import type { AgreementId, ConfigHash, EpochMs, GatewayKey, Holder, LockPeriodBounds, RequestId } from './values';

/**
 * Commands to the lease ledger. Every command carries the id of the request that caused it (one
 * outcome per request id) and names the stream that decides it: an agreement (LeaseCommand) or a
 * gateway key (KeyCommand); that stream's id is the partition key, so one owner decides each.
 */
export interface CommandMetadata {
  readonly requestId: RequestId;
  /**
   * When the requester says it sent the request (a gateway's request time). The ledger refuses a
   * request whose time is outside the window it remembers request ids for (see request-time.ts),
   * so a replay can never outlive the memory that answers it with its first outcome.
   * Optional: commands written before it existed, and ops commands, carry none.
   */
  readonly requestedAt?: EpochMs;
}

interface CommandOf<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: CommandMetadata;
}

/**
 * `lingerMs` (default 0): a lock whose last holder releases it stays counted against the licenses for
 * this long (never past its expiry), like FlexLM's LINGER, so quick release/lock churn gains nothing.
 */
export type OpenAgreement = CommandOf<
  'OpenAgreement',
  {
    readonly agreementId: AgreementId;
    readonly name: string;
    readonly licenses: number;
    readonly bounds?: Partial<LockPeriodBounds>;
    readonly lingerMs?: number;
  }
>;
export type ChangeAgreement = CommandOf<
  'ChangeAgreement',
  {
    readonly agreementId: AgreementId;
    readonly name?: string;
    readonly licenses?: number;
    readonly bounds?: Partial<LockPeriodBounds>;
    readonly lingerMs?: number;
  }
>;
export type CloseAgreement = CommandOf<'CloseAgreement', { readonly agreementId: AgreementId }>;
/** Ops: bind a key to an agreement. Decided in steps, since the key's stream must agree (see reactions.ts). */
export type BindKey = CommandOf<'BindKey', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
/** From the key's stream: the key is now reserved for this agreement; bind it. */
export type BindReservedKey = CommandOf<'BindReservedKey', { readonly agreementId: AgreementId; readonly key: GatewayKey }>;
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
/**
 * Ops (support): lock `configHash` for gateway `key` until `until`, for a gateway that cannot reach
 * the license server; the caller then hands out a support-signed token. Counts against the licenses;
 * with `overdraft` it may exceed them (recorded as such).
 */
export type IssueSupportLock = CommandOf<
  'IssueSupportLock',
  {
    readonly agreementId: AgreementId;
    readonly configHash: ConfigHash;
    readonly key: GatewayKey;
    readonly until: EpochMs;
    readonly reason: string;
    readonly issuedBy: string;
    readonly overdraft: boolean;
  }
>;
/** Ops: free a lock at once, whoever holds it; its holders' next renewal is refused (with `reason`). */
export type ForceReleaseLock = CommandOf<
  'ForceReleaseLock',
  { readonly agreementId: AgreementId; readonly configHash: ConfigHash; readonly reason: string; readonly releasedBy: string }
>;
/** Time-driven, issued by the partition owner: record every lock whose expiry has passed. */
export type ExpireLocks = CommandOf<'ExpireLocks', { readonly agreementId: AgreementId }>;

export type LeaseCommand =
  | OpenAgreement
  | ChangeAgreement
  | CloseAgreement
  | BindKey
  | BindReservedKey
  | RevokeKey
  | AcquireLock
  | ReleaseLock
  | IssueSupportLock
  | ForceReleaseLock
  | ExpireLocks;

/** From an agreement's stream to the key's: reserve `key` for `agreementId` (refused while another holds it). */
export type ReserveKey = CommandOf<'ReserveKey', { readonly key: GatewayKey; readonly agreementId: AgreementId }>;
/** From an agreement's stream to the key's: `agreementId` no longer binds `key`; free it. */
export type ReleaseKey = CommandOf<'ReleaseKey', { readonly key: GatewayKey; readonly agreementId: AgreementId }>;

/** Commands decided by a gateway key's stream: the one place that knows which agreement holds the key. */
export type KeyCommand = ReserveKey | ReleaseKey;

/** Everything on the commands topic. */
export type LedgerCommand = LeaseCommand | KeyCommand;

export function isKeyCommand(command: LedgerCommand): command is KeyCommand {
  return command.type === 'ReserveKey' || command.type === 'ReleaseKey';
}

/** The id of the stream that decides `command`: its partition key on the commands topic. */
export function streamOf(command: LedgerCommand): string {
  return isKeyCommand(command) ? command.data.key : command.data.agreementId;
}
