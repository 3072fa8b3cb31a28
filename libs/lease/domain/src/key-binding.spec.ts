import type { LeaseCommand } from './commands';
import { checkInvariants } from './invariants';
import { given, givenKey } from './testing/given-when-then';
import {
  bindKey,
  bindRequested,
  bindReserved,
  bound,
  closed,
  keyOf,
  keyReleased,
  meta,
  openWithKeys,
  releaseKey,
  reservationRefused,
  reserved,
  reserveKey,
  revoked,
  revokeKey,
  T0,
} from './testing/fixtures';
import { everyInterleaving, Streams } from './testing/streams';

const K = keyOf(7);
const close = (agreementId: string, requestId: string): LeaseCommand => ({ type: 'CloseAgreement', data: { agreementId }, metadata: { requestId } });
const open = (agreementId: string): LeaseCommand => ({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 1 }, metadata: { requestId: `open-${agreementId}` } });

describe('binding a key: the agreement asks, the key decides', () => {
  it('records the request on an open agreement and asks the key to reserve itself, passing the answer on', () => {
    const decided = given(openWithKeys(1, 0)).when(bindKey('r1', K), T0);
    decided.then([bindRequested(meta('r1', T0), K)]);
    expect(decided.followUps()).toEqual([{ command: reserveKey('r1>reserve', K), carriesAnswer: true }]);
  });

  it('answers a bind of a key already bound here at once, asking nobody', () => {
    const decided = given([...openWithKeys(1, 0), bound(meta('r1', T0), K)]).when(bindKey('r2', K), T0);
    decided.then([]);
    expect(decided.followUps()).toEqual([]);
    expect(decided.outcome()).toEqual({ kind: 'accepted' });
  });

  it('binds the key once the key reserved it, and only once', () => {
    given(openWithKeys(1, 0)).when(bindReserved('r1>reserve>bind', K), T0).then([bound(meta('r1>reserve>bind', T0), K)]);
    given([...openWithKeys(1, 0), bound(meta('r0', T0), K)]).when(bindReserved('r1>reserve>bind', K), T0).then([]);
  });

  it('gives the reservation back when the agreement closed before it arrived', () => {
    const decided = given([...openWithKeys(1, 0), closed(meta('r0', T0))]).when(bindReserved('r1>reserve>bind', K), T0);
    expect(decided.outcome()).toEqual({ kind: 'denied', reason: 'invalid_command', message: expect.stringMatching(/agreement "agreement-0042" was closed before the key was reserved for it/) });
    expect(decided.followUps()).toEqual([{ command: releaseKey('r1>reserve>bind>release', K), carriesAnswer: false }]);
  });

  it('revokes, then has the key released before answering', () => {
    const decided = given([...openWithKeys(1, 0), bound(meta('r0', T0), K)]).when(revokeKey('r1', K), T0);
    decided.then([revoked(meta('r1', T0), K)]);
    expect(decided.followUps()).toEqual([{ command: releaseKey('r1>release', K), carriesAnswer: true }]);
  });
});

describe("a key's stream", () => {
  it('reserves a free key and passes the answer on to the agreement, which binds it', () => {
    const decided = givenKey(K).when(reserveKey('r1>reserve', K, 'acme'), T0);
    decided.then([reserved(meta('r1>reserve', T0), K, 'acme')]);
    expect(decided.followUps()).toEqual([{ command: bindReserved('r1>reserve>bind', K, 'acme'), carriesAnswer: true }]);
  });

  it('refuses a key held by another agreement, naming it', () => {
    const decided = givenKey(K, [reserved(meta('r0', T0), K, 'acme')]).when(reserveKey('r1>reserve', K, 'globex'), T0);
    decided.then([reservationRefused(meta('r1>reserve', T0), K, 'globex', 'acme')]);
    expect(decided.outcome()).toEqual({
      kind: 'denied',
      reason: 'invalid_command',
      message: 'the key is bound to agreement "acme"; revoke it there before binding it to "globex"',
    });
    expect(decided.followUps()).toEqual([]);
  });

  it('accepts a reservation for the agreement that holds it already, recording nothing', () => {
    givenKey(K, [reserved(meta('r0', T0), K, 'acme')]).when(reserveKey('r1>reserve', K, 'acme'), T0).then([]);
  });

  it('is released only by its holder, after which another agreement may have it', () => {
    const history = [reserved(meta('r0', T0), K, 'acme')];
    givenKey(K, history).when(releaseKey('r1>release', K, 'globex'), T0).then([]);
    givenKey(K, history).when(releaseKey('r1>release', K, 'acme'), T0).then([keyReleased(meta('r1>release', T0), K, 'acme')]);
    givenKey(K, [...history, keyReleased(meta('r1>release', T0), K, 'acme')])
      .when(reserveKey('r2>reserve', K, 'globex'), T0)
      .then([reserved(meta('r2>reserve', T0), K, 'globex')]);
  });

  it('flags a log that reserves a held key or releases it by a stranger', () => {
    const rules = checkInvariants([
      reserved(meta('r0', T0), K, 'acme'),
      reserved(meta('r1', T0), K, 'globex'),
      keyReleased(meta('r2', T0), K, 'initech'),
    ]).map((violation) => violation.rule);
    expect(rules).toEqual(['key_reservation', 'key_reservation']);
  });
});

describe('binds, revokes and closes racing on different streams', () => {
  /** After every step: the key bound to at most one agreement, and only to the one it is reserved for. */
  const exclusive = (streams: Streams): void => {
    const boundTo = streams.boundTo(K);
    expect(boundTo.length).toBeLessThanOrEqual(1);
    for (const agreementId of boundTo) expect(streams.keys.get(K)?.heldBy).toBe(agreementId);
  };
  const openAcmeAndGlobex = (): Streams => new Streams(T0).send(open('acme'), open('globex')).settle();

  it('two binds of one key to two agreements: in every order exactly one is accepted, the other is told who holds the key', () => {
    const orders = everyInterleaving(
      () => openAcmeAndGlobex().send(bindKey('bind-acme', K, 'acme'), bindKey('bind-globex', K, 'globex')),
      exclusive,
      (streams) => {
        const outcomes = [streams.answers.get('bind-acme'), streams.answers.get('bind-globex')];
        const accepted = outcomes.filter((o) => o?.kind === 'accepted');
        const denied = outcomes.filter((o) => o?.kind === 'denied');
        expect([accepted.length, denied.length]).toEqual([1, 1]);
        expect(denied[0]).toMatchObject({ reason: 'invalid_command', message: expect.stringMatching(/the key is bound to agreement "(acme|globex)"; revoke it there/) });
        const winner = streams.answers.get('bind-acme')?.kind === 'accepted' ? 'acme' : 'globex';
        expect(streams.boundTo(K)).toEqual([winner]);
        expect(checkInvariants(streams.log)).toEqual([]);
      },
    );
    expect(orders).toBeGreaterThanOrEqual(10);
  });

  it('a revoke racing a bind elsewhere: the key ends bound to at most one agreement, never lost while held', () => {
    everyInterleaving(
      () => {
        const streams = openAcmeAndGlobex().send(bindKey('bind-acme', K, 'acme')).settle();
        return streams.send(revokeKey('revoke-acme', K, 'acme'), bindKey('bind-globex', K, 'globex'));
      },
      exclusive,
      (streams) => {
        expect(streams.answers.get('revoke-acme')?.kind).toBe('accepted');
        const globex = streams.answers.get('bind-globex');
        expect(streams.boundTo(K)).toEqual(globex?.kind === 'accepted' ? ['globex'] : []);
        expect(streams.keys.get(K)?.heldBy).toBe(globex?.kind === 'accepted' ? 'globex' : undefined);
      },
    );
  });

  it('revoke, then bind elsewhere once the revoke is answered: accepted', () => {
    const streams = openAcmeAndGlobex().send(bindKey('bind-acme', K, 'acme')).settle();
    streams.send(revokeKey('revoke-acme', K, 'acme')).settle();
    streams.send(bindKey('bind-globex', K, 'globex')).settle();
    expect([streams.answers.get('revoke-acme'), streams.answers.get('bind-globex')]).toEqual([{ kind: 'accepted' }, { kind: 'accepted' }]);
    expect(streams.boundTo(K)).toEqual(['globex']);
  });

  it('a close racing a bind: a reservation made for an agreement that closed meanwhile is given back', () => {
    everyInterleaving(
      () => openAcmeAndGlobex().send(bindKey('bind-acme', K, 'acme'), close('acme', 'close-acme')),
      exclusive,
      (streams) => {
        const bind = streams.answers.get('bind-acme');
        // Bound before the close (kept until revoked, as on any closed agreement), or free again.
        expect(streams.keys.get(K)?.heldBy).toBe(bind?.kind === 'accepted' ? 'acme' : undefined);
        streams.send(bindKey('bind-globex', K, 'globex')).settle();
        expect(streams.answers.get('bind-globex')?.kind).toBe(bind?.kind === 'accepted' ? 'denied' : 'accepted');
      },
    );
  });

  it('repeated binds and revokes on both agreements in every order keep the key exclusive', () => {
    const orders = everyInterleaving(
      () => {
        const streams = openAcmeAndGlobex().send(bindKey('b1', K, 'acme')).settle();
        return streams.send(bindKey('b2', K, 'globex'), revokeKey('v1', K, 'acme'), bindKey('b3', K, 'acme'));
      },
      exclusive,
      (streams) => expect(checkInvariants(streams.log)).toEqual([]),
    );
    expect(orders).toBeGreaterThanOrEqual(25);
  });
});
