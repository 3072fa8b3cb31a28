/** Injection tokens for what the platform module provides. */
export const LOGGER = Symbol('LOGGER');
export const MESSAGE_BUS = Symbol('MESSAGE_BUS');
export const READINESS_PROBES = Symbol('READINESS_PROBES');
export const PLATFORM_OPTIONS = Symbol('PLATFORM_OPTIONS');

/** A dependency whose reachability decides whether the service is ready for traffic. */
export interface ReadinessProbe {
  readonly name: string;
  /** Resolves when the dependency answers; rejects (or times out) otherwise. */
  check(): Promise<void>;
}
