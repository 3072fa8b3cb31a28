import { outcomeOf } from './outcome';
import { deniedAcquire, expired, granted, hashOf, holderOf, HOUR, meta, opened, released, renewed, T0 } from './testing/fixtures';

const A = hashOf(0xa1);
const gw = holderOf(1);
const m = meta('r1', T0);

describe('outcomeOf', () => {
  it('answers granted for a grant or a renewal, after any housekeeping events', () => {
    expect(outcomeOf([granted(m, A, gw, T0 + HOUR)])).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + HOUR, renewed: false });
    expect(outcomeOf([renewed(m, A, gw, T0 + HOUR)])).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + HOUR, renewed: true });
    expect(outcomeOf([expired(m, A, T0), granted(m, A, gw, T0 + HOUR)])).toMatchObject({ kind: 'granted', renewed: false });
  });

  it('answers denied with reason and message, released with freed, accepted otherwise', () => {
    expect(outcomeOf([expired(m, A, T0), deniedAcquire(m, 'no_available_licenses', 'full', gw, A)])).toEqual({ kind: 'denied', reason: 'no_available_licenses', message: 'full' });
    expect(outcomeOf([released(m, A, gw, true)])).toEqual({ kind: 'released', configHash: A, freed: true });
    expect(outcomeOf([opened(m)])).toEqual({ kind: 'accepted' });
    expect(outcomeOf([expired(m, A, T0)])).toEqual({ kind: 'accepted' });
    expect(outcomeOf([])).toEqual({ kind: 'accepted' });
  });
});
