import { KEY_EVENT_TYPES, LEASE_EVENT_TYPES, LedgerEvent, parseLedgerEvent } from '@license-ledger/lease-domain';
import { BODY_OFFSET, encodeEventRecord, genesisHash, RecordKind } from './chain-records';
import { decodeEventBinary, encodeEventBinary } from './event-codec';
import { MalformedRecordError } from './malformed-record';
import { decodeLedgerRecord } from './records';

const T0 = Date.UTC(2026, 2, 1, 12);
const meta = { requestId: 'req-1', at: T0 };
const key = Buffer.alloc(32, 7).toString('base64');
const hash = 'ab'.repeat(32);
const holder = { key, hostname: 'gw-1', processId: 42, sessionId: 's-1' };
const bounds = { minMs: 60_000, maxMs: 7_200_000, defaultMs: 3_600_000 };

/** One event of every type, optional fields both present and absent. */
const everyEvent: LedgerEvent[] = [
  { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Acme', licenses: 3, bounds }, metadata: meta },
  { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Äcme ✓', licenses: 0, bounds, lingerMs: 30_000 }, metadata: meta },
  { type: 'AgreementChanged', data: { agreementId: 'acme', name: 'Acme', licenses: 1, bounds, lingerMs: 0 }, metadata: meta },
  { type: 'AgreementClosed', data: { agreementId: 'acme' }, metadata: meta },
  { type: 'KeyBindRequested', data: { agreementId: 'acme', key }, metadata: meta },
  { type: 'KeyBound', data: { agreementId: 'acme', key }, metadata: meta },
  { type: 'KeyRevoked', data: { agreementId: 'acme', key }, metadata: meta },
  { type: 'LockGranted', data: { agreementId: 'acme', configHash: hash, holder, expiresAt: T0 + 1 }, metadata: meta },
  { type: 'LockRenewed', data: { agreementId: 'acme', configHash: hash, holder, expiresAt: T0 + 2 }, metadata: meta },
  { type: 'LockReleased', data: { agreementId: 'acme', configHash: hash, holder, freed: true }, metadata: meta },
  { type: 'LockReleased', data: { agreementId: 'acme', configHash: hash, holder, freed: false, keptUntil: T0 + 3 }, metadata: meta },
  {
    type: 'SupportLockIssued',
    data: { agreementId: 'acme', configHash: hash, key, until: T0 + 4, issuedBy: 'bob', reason: 'outage', overdraft: true },
    metadata: meta,
  },
  {
    type: 'LockForceReleased',
    data: { agreementId: 'acme', configHash: hash, holders: [holder, { ...holder, processId: 7 }], expiresAt: T0 + 5, releasedBy: 'bob', reason: 'replaced' },
    metadata: meta,
  },
  { type: 'LockForceReleased', data: { agreementId: 'acme', configHash: hash, holders: [], expiresAt: T0, releasedBy: 'bob', reason: 'r' }, metadata: meta },
  { type: 'LockExpired', data: { agreementId: 'acme', configHash: hash, expiredAt: T0 }, metadata: meta },
  { type: 'RequestDenied', data: { agreementId: 'acme', reason: 'invalid_command', command: 'CloseAgreement', message: 'no such agreement' }, metadata: meta },
  {
    type: 'RequestDenied',
    data: { agreementId: 'acme', reason: 'no_available_licenses', command: 'AcquireLock', message: 'full', key: 'not-a-key', configHash: 'not-a-hash' },
    metadata: meta,
  },
  { type: 'KeyReserved', data: { key, agreementId: 'acme' }, metadata: meta },
  { type: 'KeyReservationRefused', data: { key, agreementId: 'globex', heldBy: 'acme', message: 'bound to "acme"' }, metadata: meta },
  { type: 'KeyReleased', data: { key, agreementId: 'acme' }, metadata: meta },
];

describe('binary event encoding', () => {
  it('covers every event type', () => {
    expect(new Set(everyEvent.map((e) => e.type))).toEqual(new Set([...LEASE_EVENT_TYPES, ...KEY_EVENT_TYPES]));
  });

  it.each(everyEvent.map((event) => [`${event.type} ${Object.keys(event.data).length}`, event] as const))('reads back %s exactly as the JSON reader reads its JSON', (_, event) => {
    const binary = encodeEventBinary(event);
    if (!binary) throw new Error('not encodable');
    expect(decodeEventBinary(binary, 0)).toStrictEqual(parseLedgerEvent(JSON.parse(JSON.stringify(event))));
    // A fraction of the JSON's size.
    expect(binary.length).toBeLessThan(Buffer.byteLength(JSON.stringify(event)) * 0.7);
  });

  it('keeps its wire format (golden vector: tags and field order never change)', () => {
    const renewed = everyEvent.find((e) => e.type === 'LockRenewed');
    if (!renewed) throw new Error('missing');
    expect(encodeEventBinary(renewed)?.toString('hex')).toBe(
      // tag 8, "req-1", at (LEB128), "acme", the hash's 32 bytes, the key's 32 bytes, "gw-1", 42, "s-1", expiresAt
      '08' + '057265712d31' + '809494caca33' + '0461636d65' + 'ab'.repeat(32) + '07'.repeat(32) + '0467772d31' + '2a' + '03732d31' + '829494caca33',
    );
  });

  it('writes an event it cannot hold exactly (a non-canonical key) as JSON inside the version-1 record', () => {
    const nonCanonical = `${key.slice(0, 42)}x=`;
    const event: LedgerEvent = { type: 'KeyBound', data: { agreementId: 'acme', key: nonCanonical }, metadata: meta };
    expect(encodeEventBinary(event)).toBeUndefined();
    const record = encodeEventRecord(event, genesisHash(0));
    expect(record[1]).toBe(RecordKind.jsonEvent);
    expect(decodeLedgerRecord(record)).toEqual(event);
  });

  it('writes an event missing a field the decider always fills (a test\'s shortcut) as JSON, not as something else', () => {
    const partial = { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Acme', licenses: 1 }, metadata: meta } as unknown as LedgerEvent;
    expect(encodeEventBinary(partial)).toBeUndefined();
    expect(encodeEventRecord(partial, genesisHash(0))[1]).toBe(RecordKind.jsonEvent);
  });

  it('refuses a cut, padded or unknown record', () => {
    const record = encodeEventRecord(everyEvent[7] as LedgerEvent, genesisHash(0));
    expect(decodeLedgerRecord(record)).toEqual(everyEvent[7]);
    expect(() => decodeLedgerRecord(record.subarray(0, record.length - 1))).toThrow(MalformedRecordError);
    expect(() => decodeLedgerRecord(Buffer.concat([record, Buffer.from([0])]))).toThrow(/trailing/);
    const unknownTag = Buffer.from(record);
    unknownTag[BODY_OFFSET] = 200;
    expect(() => decodeLedgerRecord(unknownTag)).toThrow(/unknown event tag 200/);
    expect(() => decodeLedgerRecord(record.subarray(0, 20))).toThrow(/shorter than its header/);
  });

  it('still reads the JSON records of older versions', () => {
    const event = everyEvent[0] as LedgerEvent;
    expect(decodeLedgerRecord(Buffer.from(JSON.stringify(event)))).toEqual(event);
  });
});
