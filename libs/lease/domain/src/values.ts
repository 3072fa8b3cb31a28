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
  | 'invalid_command'
  /** A release (or forced release) of a lock the requester does not hold, or that is not live: nothing changes. */
  | 'lock_not_held'
  /** A renewal by a holder whose lock ops released by force; the message carries the operator's reason. */
  | 'lock_released_by_operator';

/**
 * The longest a support-issued lock may run from its issue. A support token cannot be recalled once
 * handed out (a forced release frees the license, but the token stays valid until it expires), and
 * it stands in for the license server only while the gateway cannot reach it: 30 days covers a long
 * outage or a holiday, yet keeps a forgotten token from living on indefinitely.
 */
export const SUPPORT_LOCK_MAX_MS = 30 * 24 * 3_600_000;

/** Who issued a support lock for which key, why, and until when (see IssueSupportLock). */
export interface SupportGrant {
  readonly key: GatewayKey;
  readonly until: EpochMs;
  readonly issuedBy: string;
  readonly reason: string;
  /** The grant exceeded the agreement's licenses (ops allowed it with --overdraft). */
  readonly overdraft: boolean;
}
