import type { KeyCommand, LeaseCommand } from '../commands';
import { decide, evolve } from '../decider';
import type { KeyEvent, LeaseEvent } from '../events';
import { checkInvariants } from '../invariants';
import { decideKey, evolveKey, initialKeyState, type KeyReservationState } from '../key-reservation';
import { outcomeOf, type LeaseOutcome } from '../outcome';
import { followUpsOf, type FollowUp } from '../reactions';
import { parseLedgerEvent, parseLeaseEvent, serializeLeaseEvent } from '../serialization';
import { initialState, locksOf, type AgreementState } from '../state';
import type { EpochMs } from '../values';

/**
 * Spec support (not exported from the library): `given(history).when(command, now).then(events)`.
 * Besides comparing events it checks on every scenario that decide left the state untouched, that
 * each new event survives JSON and the parser, and that history + new events break no invariant.
 */
export function given(history: readonly LeaseEvent[] = []) {
  return {
    when(command: LeaseCommand, now: EpochMs) {
      const state = stateAfter(command.data.agreementId, history);
      const before = snapshot(state);
      const events = decide(command, state, now);
      expect(snapshot(state)).toEqual(before);
      for (const event of events) expect(parseLeaseEvent(JSON.parse(serializeLeaseEvent(event)))).toEqual(event);
      return {
        events,
        /** The state after applying the new events too. */
        state: () => events.reduce(evolve, state),
        outcome: (): LeaseOutcome => outcomeOf(events),
        followUps: (): FollowUp[] => followUpsOf(events),
        then(expected: readonly LeaseEvent[], options: { invariantsHold?: boolean } = {}): LeaseEvent[] {
          expect(events).toEqual(expected);
          if (options.invariantsHold ?? true) expect(checkInvariants([...history, ...events])).toEqual([]);
          return events;
        },
      };
    },
  };
}

export function stateAfter(agreementId: string, history: readonly LeaseEvent[]): AgreementState {
  return history.reduce(evolve, initialState(agreementId));
}

function snapshot(state: AgreementState): unknown {
  return { ...state, keys: [...state.keys], locks: locksOf(state) };
}

/** The same for a gateway key's stream: `givenKey(key, history).when(command, now).then(events)`. */
export function givenKey(key: string, history: readonly KeyEvent[] = []) {
  return {
    when(command: KeyCommand, now: EpochMs) {
      const state = history.reduce(evolveKey, initialKeyState(key));
      const before = { ...state };
      const events = decideKey(command, state, now);
      expect(state).toEqual(before);
      for (const event of events) expect(parseLedgerEvent(JSON.parse(serializeLeaseEvent(event)))).toEqual(event);
      return {
        events,
        state: (): KeyReservationState => events.reduce(evolveKey, state),
        outcome: (): LeaseOutcome => outcomeOf(events),
        followUps: (): FollowUp[] => followUpsOf(events),
        then(expected: readonly KeyEvent[]): KeyEvent[] {
          expect(events).toEqual(expected);
          expect(checkInvariants([...history, ...events])).toEqual([]);
          return events;
        },
      };
    },
  };
}
