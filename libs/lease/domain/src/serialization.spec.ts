import type { KeyCommand, LeaseCommand } from './commands';
import { decide } from './decider';
import type { KeyEvent, LeaseEvent } from './events';
import {
  KEY_COMMAND_TYPES,
  KEY_EVENT_TYPES,
  LEASE_COMMAND_TYPES,
  LEASE_EVENT_TYPES,
  LeaseParseError,
  parseLedgerCommand,
  parseLedgerEvent,
  parseLeaseCommand,
  parseLeaseEvent,
  serializeLeaseCommand,
  serializeLeaseEvent,
} from './serialization';
import { initialState } from './state';
import {
  acquire,
  AGREEMENT,
  bindRequested,
  bindReserved,
  bound,
  changed,
  closed,
  deniedAcquire,
  expired,
  forceReleased,
  forceRelease,
  granted,
  hashOf,
  holderOf,
  HOUR,
  issueSupport,
  keyOf,
  keyReleased,
  meta,
  opened,
  release,
  releaseKey,
  released,
  renewed,
  reservationRefused,
  reserved,
  reserveKey,
  revoked,
  supportIssued,
  T0,
} from './testing/fixtures';

const m = meta('req-1', T0);
const A = hashOf(0xa1);
const gw = holderOf(1);

const everyEvent: LeaseEvent[] = [
  opened(m, 3),
  changed(m, 1, { minMs: 1, defaultMs: 2, maxMs: 3 }, 'Renamed'),
  closed(m),
  bindRequested(m, keyOf(1)),
  bound(m, keyOf(1)),
  revoked(m, keyOf(1)),
  granted(m, A, gw, T0 + HOUR),
  renewed(m, A, gw, T0 + 2 * HOUR),
  released(m, A, gw, true),
  released(m, A, gw, false, T0 + HOUR),
  opened(m, 3, { minMs: 1, defaultMs: 2, maxMs: 3 }, 'Lingering', 30_000),
  supportIssued(m, A, keyOf(1), T0 + HOUR, { overdraft: true }),
  forceReleased(m, A, [gw, holderOf(2)], T0 + HOUR),
  forceReleased(m, A, [], T0 + HOUR),
  expired(m, A, T0),
  deniedAcquire(m, 'lock_not_held', 'not held', gw, A, 'ReleaseLock'),
  deniedAcquire(m, 'lock_released_by_operator', 'released by operator bob: config replaced', gw, A),
  deniedAcquire(m, 'no_available_licenses', 'all 3 licenses are held', gw, A),
  { type: 'RequestDenied', data: { agreementId: AGREEMENT, reason: 'invalid_command', command: 'CloseAgreement', message: 'agreement does not exist' }, metadata: m },
];

const everyCommand: LeaseCommand[] = [
  { type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Acme', licenses: 3, bounds: { maxMs: HOUR } }, metadata: { requestId: 'r' } },
  { type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Acme', licenses: 3 }, metadata: { requestId: 'r' } },
  { type: 'ChangeAgreement', data: { agreementId: AGREEMENT, licenses: 1 }, metadata: { requestId: 'r' } },
  { type: 'CloseAgreement', data: { agreementId: AGREEMENT }, metadata: { requestId: 'r' } },
  { type: 'BindKey', data: { agreementId: AGREEMENT, key: keyOf(1) }, metadata: { requestId: 'r' } },
  bindReserved('r', keyOf(1)),
  { type: 'RevokeKey', data: { agreementId: AGREEMENT, key: keyOf(1) }, metadata: { requestId: 'r' } },
  acquire('r', A, gw, HOUR),
  acquire('r', A, gw),
  release('r', A, gw),
  issueSupport('r', A, keyOf(1), T0 + HOUR, { overdraft: true }),
  forceRelease('r', A),
  { type: 'ChangeAgreement', data: { agreementId: AGREEMENT, lingerMs: 60_000 }, metadata: { requestId: 'r' } },
  { type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId: 'r' } },
];

const everyKeyEvent: KeyEvent[] = [reserved(m, keyOf(1)), reservationRefused(m, keyOf(1), 'globex', AGREEMENT), keyReleased(m, keyOf(1))];
const everyKeyCommand: KeyCommand[] = [reserveKey('r', keyOf(1)), releaseKey('r', keyOf(1))];

/** A copy with one nested field replaced (or removed with `undefined`). */
function withField(value: unknown, path: string[], replacement: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  let target = copy;
  for (const step of path.slice(0, -1)) target = target[step] as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (replacement === undefined) delete target[last];
  else target[last] = replacement;
  return copy;
}

describe('event serialization', () => {
  it('covers every event type', () => {
    expect(new Set(everyEvent.map((event) => event.type))).toEqual(new Set(LEASE_EVENT_TYPES));
  });

  it.each(everyEvent.map((event) => [event.type, event] as const))('round-trips %s through JSON text and through a decoded value', (_type, event) => {
    const text = serializeLeaseEvent(event);
    expect(parseLeaseEvent(text)).toEqual(event);
    expect(parseLeaseEvent(JSON.parse(text))).toEqual(event);
  });

  it('drops unknown fields (a newer writer may add some)', () => {
    const event = granted(m, A, gw, T0 + HOUR);
    expect(parseLeaseEvent({ ...event, extra: 1, data: { ...event.data, tenant: 'x' } })).toEqual(event);
  });

  it.each([
    ['text that is not JSON', '{"type":', /not JSON/],
    ['null', null, /expected an object.*got null/],
    ['an array', [], /got an array/],
    ['a missing type', { data: {}, metadata: m }, /unknown type nothing; expected one of AgreementOpened, /],
    ['an unknown type', { type: 'LockStolen', data: {}, metadata: m }, /unknown type "LockStolen"/],
    ['a prototype key as type', { type: '__proto__', data: {}, metadata: m }, /unknown type "__proto__"/],
    ['a short config hash', withField(granted(m, A, gw, T0), ['data', 'configHash'], 'abc'), /64 lower-case hex digits[\s\S]*data\.configHash/],
    ['an upper-case config hash', withField(granted(m, A, gw, T0), ['data', 'configHash'], A.toUpperCase()), /data\.configHash/],
    ['a malformed key', withField(bound(m, keyOf(1)), ['data', 'key'], 'not-a-key'), /base64 of 32 bytes[\s\S]*data\.key/],
    ['a fractional time', withField(granted(m, A, gw, T0), ['metadata', 'at'], T0 + 0.5), /metadata\.at/],
    ['a time as text', withField(granted(m, A, gw, T0), ['data', 'expiresAt'], String(T0)), /data\.expiresAt/],
    ['a missing holder field', withField(granted(m, A, gw, T0), ['data', 'holder', 'processId'], undefined), /data\.holder\.processId/],
    ['negative licenses', withField(opened(m), ['data', 'licenses'], -1), /data\.licenses/],
    ['an unknown denial reason', withField(deniedAcquire(m, 'no_license_agreement', 'x', gw, A), ['data', 'reason'], 'because'), /data\.reason/],
    ['an empty request id', withField(closed(m), ['metadata', 'requestId'], ''), /must not be empty[\s\S]*metadata\.requestId/],
    ['missing metadata', withField(closed(m), ['metadata'], undefined), /metadata/],
  ])('rejects %s with a clear LeaseParseError', (_label, json, message) => {
    expect(() => parseLeaseEvent(json)).toThrow(LeaseParseError);
    expect(() => parseLeaseEvent(json)).toThrow(message);
  });
});

describe('command serialization', () => {
  it('covers every command type', () => {
    expect(new Set(everyCommand.map((command) => command.type))).toEqual(new Set(LEASE_COMMAND_TYPES));
  });

  it.each(everyCommand.map((command) => [command.type, command] as const))('round-trips %s', (_type, command) => {
    expect(parseLeaseCommand(serializeLeaseCommand(command))).toEqual(command);
  });

  it.each([
    ['an unknown field (likely a typo)', withField(acquire('r', A, gw), ['data', 'requestedPeriod'], HOUR), /Unrecognized key.*requestedPeriod/],
    ['an unknown holder field', withField(acquire('r', A, gw), ['data', 'holder', 'pid'], 1), /pid/],
    ['a malformed config hash', withField(acquire('r', A, gw), ['data', 'configHash'], 'xyz'), /data\.configHash/],
    ['a missing holder', withField(release('r', A, gw), ['data', 'holder'], undefined), /data\.holder/],
    ['licenses as text', { type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Acme', licenses: '3' }, metadata: { requestId: 'r' } }, /data\.licenses/],
    ['an unknown type', { type: 'StealLock', data: {}, metadata: { requestId: 'r' } }, /unknown type "StealLock"; expected one of OpenAgreement, /],
    ['a support lock without its overdraft flag', withField(issueSupport('r', A, keyOf(1), T0), ['data', 'overdraft'], undefined), /data\.overdraft/],
    ['a support lock for a malformed key', withField(issueSupport('r', A, keyOf(1), T0), ['data', 'key'], 'gw-1'), /data\.key/],
    ['a forced release with a reason of 501 characters', withField(forceRelease('r', A), ['data', 'reason'], 'x'.repeat(501)), /data\.reason/],
  ])('rejects %s', (_label, json, message) => {
    expect(() => parseLeaseCommand(json)).toThrow(LeaseParseError);
    expect(() => parseLeaseCommand(json)).toThrow(message);
  });

  it('reads agreements written before linger existed as lingering 0 (the field is absent)', () => {
    const older = { type: 'AgreementOpened', data: { agreementId: AGREEMENT, name: 'Acme', licenses: 1, bounds: { minMs: 1, defaultMs: 2, maxMs: 3 } }, metadata: m };
    expect(parseLeaseEvent(older)).toEqual(older);
    expect(() => parseLeaseEvent(withField(older, ['data', 'lingerMs'], -1))).toThrow(/data\.lingerMs/);
  });

  it('takes the request time as optional metadata: commands without it (older writers, ops) still decode', () => {
    const stamped = { ...acquire('r', A, gw), metadata: { requestId: 'r', requestedAt: T0 } };
    expect(parseLeaseCommand(serializeLeaseCommand(stamped))).toEqual(stamped);
    expect(parseLeaseCommand(serializeLeaseCommand(acquire('r', A, gw)))).toEqual(acquire('r', A, gw));
    expect(() => parseLeaseCommand(withField(stamped, ['metadata', 'requestedAt'], T0 + 0.5))).toThrow(/metadata\.requestedAt/);
  });

  it('leaves business rules to the decider, which records the denial', () => {
    const command = parseLeaseCommand({ type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Acme', licenses: -2 }, metadata: { requestId: 'r' } });
    expect(decide(command, initialState(AGREEMENT), T0)).toEqual([
      {
        type: 'RequestDenied',
        data: { agreementId: AGREEMENT, reason: 'invalid_command', command: 'OpenAgreement', message: 'licenses must be a non-negative integer, got -2' },
        metadata: { requestId: 'r', at: T0 },
      },
    ]);
  });
});

describe("the key streams' events and commands", () => {
  it('covers every type, and each round-trips as a ledger event or command', () => {
    expect(new Set(everyKeyEvent.map((event) => event.type))).toEqual(new Set(KEY_EVENT_TYPES));
    expect(new Set(everyKeyCommand.map((command) => command.type))).toEqual(new Set(KEY_COMMAND_TYPES));
    for (const event of [...everyEvent, ...everyKeyEvent]) expect(parseLedgerEvent(serializeLeaseEvent(event))).toEqual(event);
    for (const command of [...everyCommand, ...everyKeyCommand]) expect(parseLedgerCommand(serializeLeaseCommand(command))).toEqual(command);
  });

  it("are not an agreement's: the agreement parsers refuse them", () => {
    expect(() => parseLeaseEvent(reserved(m, keyOf(1)))).toThrow(/unknown type "KeyReserved"/);
    expect(() => parseLeaseCommand(reserveKey('r', keyOf(1)))).toThrow(/unknown type "ReserveKey"/);
  });
});
