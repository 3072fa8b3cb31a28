/** Plain values of the lease domain. Times are integer milliseconds since the Unix epoch (UTC). */
export type AgreementId = string;
export type RequestId = string;
/** A gateway's X25519 public key, standard base64 of its 32 bytes. */
export type GatewayKey = string;
/** SHA-256 config hash, 64 lower-case hex digits. */
export type ConfigHash = string;
export type EpochMs = number;

export interface LockPeriodBounds {
  readonly minMs: number;
  readonly maxMs: number;
  readonly defaultMs: number;
}

export const DEFAULT_BOUNDS: LockPeriodBounds = {
  minMs: 5 * 60_000,
  maxMs: 7 * 24 * 3_600_000,
  defaultMs: 2 * 3_600_000,
};

/** One gateway process sharing a lock. */
export interface Holder {
  readonly key: GatewayKey;
  readonly hostname: string;
  readonly processId: number;
  readonly sessionId: string;
}

export type DenialReason =
  | 'no_license_agreement'
  | 'no_available_licenses'
  /** Ops commands that do not fit the agreement's state (open twice, change a closed one, ...). */
  | 'invalid_command';
