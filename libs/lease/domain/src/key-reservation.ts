import type { KeyCommand } from './commands';
import type { EventMetadata, KeyEvent } from './events';
import type { AgreementId, EpochMs, GatewayKey } from './values';

/*
 * The decider of one gateway key's stream. Agreements live on the partitions of their ids, so two
 * agreements' BindKey are decided by different owners that cannot see each other's decisions; the
 * key's own stream (the partition of the key, one owner) is where "which agreement holds this key"
 * is decided, one command after the other. An agreement binds a key only after this stream reserved
 * it for that agreement, and asks for its release only after it revoked the key (reactions.ts).
 */

export interface KeyReservationState {
  readonly key: GatewayKey;
  /** The agreement the key is reserved for (bound to, or being bound to), if any. */
  heldBy: AgreementId | undefined;
  /** Time of the latest event applied: decisions never happen before it. */
  lastEventAt: EpochMs;
}

export function initialKeyState(key: GatewayKey): KeyReservationState {
  return { key, heldBy: undefined, lastEventAt: Number.NEGATIVE_INFINITY };
}

export function decideKey(command: KeyCommand, state: KeyReservationState, now: EpochMs): KeyEvent[] {
  if (command.data.key !== state.key) throw new Error(`${command.type} for key "${command.data.key}" was routed to key "${state.key}"`);
  if (!Number.isFinite(now)) throw new Error(`decideKey needs a finite time, got ${now}`);
  const metadata: EventMetadata = { requestId: command.metadata.requestId, at: Math.max(now, state.lastEventAt) };
  const { key, agreementId } = command.data;
  switch (command.type) {
    case 'ReserveKey':
      if (state.heldBy === undefined) return [{ type: 'KeyReserved', data: { key, agreementId }, metadata }];
      // Held by the same agreement: an earlier bind of it is done or on its way. Nothing to record.
      if (state.heldBy === agreementId) return [];
      return [
        {
          type: 'KeyReservationRefused',
          data: { key, agreementId, heldBy: state.heldBy, message: `the key is bound to agreement "${state.heldBy}"; revoke it there before binding it to "${agreementId}"` },
          metadata,
        },
      ];
    case 'ReleaseKey':
      // Only the holder frees the key; a release by anyone else (or a repeat) changes nothing.
      return state.heldBy === agreementId ? [{ type: 'KeyReleased', data: { key, agreementId }, metadata }] : [];
    default:
      return unreachableKey(command);
  }
}

/** Applies one event to `state` in place and returns it (like `evolve`). */
export function evolveKey(state: KeyReservationState, event: KeyEvent): KeyReservationState {
  if (event.data.key !== state.key) throw new Error(`${event.type} of key "${event.data.key}" applied to key "${state.key}"`);
  if (event.metadata.at > state.lastEventAt) state.lastEventAt = event.metadata.at;
  switch (event.type) {
    case 'KeyReserved':
      state.heldBy = event.data.agreementId;
      return state;
    case 'KeyReleased':
      if (state.heldBy === event.data.agreementId) state.heldBy = undefined;
      return state;
    case 'KeyReservationRefused':
      return state;
    default:
      return unreachableKey(event);
  }
}

function unreachableKey(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
