/**
 * The `reason` of a 400 answer to POST /v1/license (and to a release): `lock_not_held` answers a
 * release of a lock the gateway does not hold; `lock_released_by_operator` a renewal of a lock ops
 * released by force (the message carries their reason).
 */
export const licenseErrorReasons = ['no_license_agreement', 'no_available_licenses', 'invalid_request', 'lock_not_held', 'lock_released_by_operator'] as const;
export type LicenseErrorReason = (typeof licenseErrorReasons)[number];

/** JSON body of a 400 answer: {"error":400,"reason":R,"message":M}. */
export interface LicenseErrorBody {
  readonly error: 400;
  readonly reason: LicenseErrorReason;
  readonly message: string;
}

export function licenseErrorBody(reason: LicenseErrorReason, message: string): LicenseErrorBody {
  return { error: 400, reason, message };
}

/** Null unless `json` is exactly a well-formed error body. */
export function parseLicenseErrorBody(json: unknown): LicenseErrorBody | null {
  if (typeof json !== 'object' || json === null) return null;
  const { error, reason, message } = json as Record<string, unknown>;
  if (error !== 400 || typeof message !== 'string') return null;
  const known = licenseErrorReasons.find((candidate) => candidate === reason);
  return known ? { error: 400, reason: known, message } : null;
}

/** The server cannot open or decode a request: answer 400 invalid_request with this message. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  readonly reason = 'invalid_request' satisfies LicenseErrorReason;
}

/** A response the gateway must not trust: forged, for another gateway or config, or from an unknown key. */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
}
