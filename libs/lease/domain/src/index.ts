export * from './values';
export * from './commands';
export * from './events';
export { lockKeyOf, configHashOf, type LockKey } from './lock-key';
export {
  initialState,
  isLive,
  liveLockCount,
  nextExpiry,
  lockOf,
  locksOf,
  holdersOf,
  holderCount,
  holdsLock,
  sameHolder,
  supportOf,
  forcedReleaseOf,
  HeldLock,
  LingeringLock,
  SupportLock,
  type LockState,
  type LockKind,
  type ForcedRelease,
  type AgreementState,
  type AgreementStatus,
  type LockSnapshot,
} from './state';
export { decide, evolve, clampPeriod } from './decider';
export { decideKey, evolveKey, initialKeyState, type KeyReservationState } from './key-reservation';
export { followUpsOf, type FollowUp } from './reactions';
export { REQUEST_TIME_WINDOW_MS, REQUEST_MEMORY_MS, requestTimeProblem } from './request-time';
export { outcomeOf, type LeaseOutcome, type LeaseOutcomeKind } from './outcome';
export { checkInvariants, LeaseInvariantChecker, type InvariantRule, type InvariantViolation } from './invariants';
export {
  parseLeaseEvent,
  parseLeaseCommand,
  parseLedgerEvent,
  parseLedgerCommand,
  serializeLeaseEvent,
  serializeLeaseCommand,
  isConfigHash,
  isGatewayKey,
  MAX_NOTE_LENGTH,
  LeaseParseError,
  LEASE_EVENT_TYPES,
  LEASE_COMMAND_TYPES,
  KEY_EVENT_TYPES,
  KEY_COMMAND_TYPES,
} from './serialization';
