import type { LedgerCommand } from '@license-ledger/lease-domain';
import { PartitionLedger } from './partition-ledger';
import { decodeSnapshotBody, encodeSnapshotBody } from './snapshot-codec';
import { assembleBody, chunkMessages, manifestMessage, parseManifest, sha256Hex, SNAPSHOT_CHUNK_BYTES, SnapshotManifest, UnusableSnapshotError } from './snapshot-records';

const KEY = Buffer.alloc(32, 1).toString('base64');
const OTHER_KEY = Buffer.alloc(32, 2).toString('base64');
const T0 = Date.UTC(2026, 0, 1);
const hash = (n: number): string => n.toString(16).padStart(64, '0');
const holder = (session: string, key = KEY) => ({ key, hostname: `host-${session}`, processId: 7, sessionId: session });
let ids = 0;
const cmd = (type: LedgerCommand['type'], data: Record<string, unknown>, requestId = `r-${++ids}`): LedgerCommand =>
  ({ type, data, metadata: { requestId } }) as unknown as LedgerCommand;

/** A ledger that went through every kind of state: locks held, shared, lingering, support, forced release, a key reservation, denials. */
function busyLedger(): PartitionLedger {
  const ledger = new PartitionLedger(3);
  const at = (minutes: number): number => T0 + minutes * 60_000;
  ledger.decideAndApply(cmd('OpenAgreement', { agreementId: 'acme', name: 'Acme', licenses: 4, lingerMs: 60_000 }), at(0));
  ledger.decideAndApply(cmd('OpenAgreement', { agreementId: 'gone', name: 'Gone', licenses: 1 }), at(0));
  ledger.decideAndApply(cmd('BindReservedKey', { agreementId: 'acme', key: KEY }), at(1));
  ledger.decideAndApply(cmd('BindReservedKey', { agreementId: 'gone', key: OTHER_KEY }), at(1));
  ledger.decideAndApply(cmd('ReserveKey', { key: OTHER_KEY, agreementId: 'gone' }), at(1));
  ledger.decideAndApply(cmd('AcquireLock', { agreementId: 'acme', configHash: hash(1), holder: holder('s1') }, 'grant-1'), at(2));
  ledger.decideAndApply(cmd('AcquireLock', { agreementId: 'acme', configHash: hash(1), holder: holder('s2') }), at(2));
  ledger.decideAndApply(cmd('AcquireLock', { agreementId: 'acme', configHash: hash(2), holder: holder('s3') }), at(3));
  ledger.decideAndApply(cmd('ReleaseLock', { agreementId: 'acme', configHash: hash(2), holder: holder('s3') }), at(4));
  ledger.decideAndApply(cmd('IssueSupportLock', { agreementId: 'acme', configHash: hash(3), key: KEY, until: at(600), reason: 'outage', issuedBy: 'ops', overdraft: false }), at(5));
  ledger.decideAndApply(cmd('AcquireLock', { agreementId: 'acme', configHash: hash(4), holder: holder('s4') }), at(5));
  ledger.decideAndApply(cmd('ForceReleaseLock', { agreementId: 'acme', configHash: hash(4), reason: 'stuck', releasedBy: 'ops' }), at(6));
  ledger.decideAndApply(cmd('AcquireLock', { agreementId: 'nobody', configHash: hash(5), holder: holder('s5') }, 'denied-1'), at(7));
  ledger.decideAndApply(cmd('CloseAgreement', { agreementId: 'gone' }), at(8));
  ledger.writtenUpTo(42n);
  return ledger;
}

const roundTrip = (ledger: PartitionLedger): PartitionLedger => PartitionLedger.restore(decodeSnapshotBody(encodeSnapshotBody(ledger.exportState())));

describe('partition snapshot body', () => {
  it('restores exactly the state it encoded: agreements, locks of every kind, reservations, remembered outcomes, offset', () => {
    const original = busyLedger();
    const restored = roundTrip(original);
    expect(restored.exportState()).toEqual(original.exportState());
    expect(restored.nextOffset).toBe(42n);
    // Classes come back as classes (the decider tells lock kinds apart by them).
    expect([...(restored.agreements.get('acme')?.locks.values() ?? [])].map((lock) => lock.kind).sort()).toEqual(['held', 'lingering', 'support']);
  });

  it('decides after a restore exactly as the ledger it came from: retries get their first outcome, new commands the same decision', () => {
    const original = busyLedger();
    const restored = roundTrip(original);
    const now = T0 + 9 * 60_000;
    const commands = [
      cmd('AcquireLock', { agreementId: 'acme', configHash: hash(1), holder: holder('s1') }, 'grant-1'),
      cmd('AcquireLock', { agreementId: 'nobody', configHash: hash(5), holder: holder('s5') }, 'denied-1'),
      cmd('AcquireLock', { agreementId: 'acme', configHash: hash(1), holder: holder('s1') }),
      cmd('AcquireLock', { agreementId: 'acme', configHash: hash(4), holder: holder('s4') }),
      cmd('AcquireLock', { agreementId: 'acme', configHash: hash(9), holder: holder('s9') }),
      cmd('RevokeKey', { agreementId: 'gone', key: OTHER_KEY }),
      cmd('ExpireLocks', { agreementId: 'acme' }),
    ];
    for (const command of commands) expect(restored.decideAndApply(command, now)).toEqual(original.decideAndApply(command, now));
    expect(restored.exportState()).toEqual(original.exportState());
  });

  it('stores 100,000 live locks compactly', () => {
    const ledger = new PartitionLedger(0);
    // 1,000 agreements of 100 locks (one agreement's decision counts its locks: keep them small).
    for (let a = 0; a < 1_000; a++) {
      ledger.decideAndApply(cmd('OpenAgreement', { agreementId: `big-${a}`, name: 'Big', licenses: 100 }), T0);
      ledger.decideAndApply(cmd('BindReservedKey', { agreementId: `big-${a}`, key: KEY }), T0);
      for (let n = 0; n < 100; n++) {
        ledger.decideAndApply(cmd('AcquireLock', { agreementId: `big-${a}`, configHash: hash(n), holder: holder(`session-${a}-${n}`) }), T0 + 1);
      }
    }
    const body = encodeSnapshotBody(ledger.exportState());
    // About 100 bytes a lock with its session, remembered outcome and request id.
    expect(body.length).toBeLessThan(100_000 * 160);
    const restored = roundTrip(ledger);
    let locks = 0;
    for (const agreement of restored.agreements.values()) locks += agreement.locks.size;
    expect(locks).toBe(100_000);
  });

  it('refuses a body that is not a snapshot, is cut short, or has bytes left over', () => {
    const body = encodeSnapshotBody(busyLedger().exportState());
    expect(() => decodeSnapshotBody(Buffer.from('not a snapshot at all'))).toThrow(/bad magic/);
    expect(() => decodeSnapshotBody(body.subarray(0, body.length - 3))).toThrow();
    expect(() => decodeSnapshotBody(Buffer.concat([body, Buffer.from([0])]))).toThrow(/left over/);
    const otherVersion = Buffer.from(body);
    otherVersion[4] = 2;
    expect(() => decodeSnapshotBody(otherVersion)).toThrow(/bad magic/);
  });
});

describe('partition snapshot records', () => {
  const manifestFor = (body: Buffer, chunkOffsets: string[]): SnapshotManifest => ({
    format: 'license-ledger.partition-snapshot',
    version: 1,
    eventsTopic: 'events',
    partition: 2,
    coveredOffset: '42',
    takenAtMs: T0,
    bodyBytes: body.length,
    sha256: sha256Hex(body),
    chunkOffsets,
  });
  const received = (value: Buffer, offset = '9') => ({ topic: 's', partition: 2, offset, timestampMs: 0, key: '2', value, headers: {} });

  it('cuts a body into chunks below the default max.message.bytes and assembles it back after checking it', () => {
    const body = Buffer.alloc(SNAPSHOT_CHUNK_BYTES * 2 + 10, 7);
    const chunks = chunkMessages(2, body);
    expect(chunks.map((c) => [c.key, c.partition, c.value.length])).toEqual([
      ['2.0', 2, SNAPSHOT_CHUNK_BYTES],
      ['2.1', 2, SNAPSHOT_CHUNK_BYTES],
      ['2.2', 2, 10],
    ]);
    const offsets = ['5', '6', '7'];
    const manifest = parseManifest(received(manifestMessage(manifestFor(body, offsets)).value));
    const records = new Map(offsets.map((offset, i) => [offset, chunks[i]?.value ?? Buffer.alloc(0)]));
    expect(assembleBody(manifest, records).equals(body)).toBe(true);
  });

  it('fails the check on a changed byte, a missing chunk, or a manifest of another version', () => {
    const body = Buffer.from('the body of a snapshot');
    const manifest = manifestFor(body, ['5']);
    const tampered = Buffer.from(body);
    tampered[0] = 0x54;
    expect(() => assembleBody(manifest, new Map([['5', tampered]]))).toThrow(new UnusableSnapshotError('body fails its SHA-256 check'));
    expect(() => assembleBody(manifest, new Map())).toThrow(UnusableSnapshotError);
    expect(() => parseManifest(received(Buffer.from(JSON.stringify({ ...manifest, version: 2 }))))).toThrow(/version 2/);
    expect(() => parseManifest(received(Buffer.from('{"format":')))).toThrow(/not JSON/);
    expect(() => parseManifest(received(Buffer.from(JSON.stringify({ ...manifest, coveredOffset: 42 }))))).toThrow(/bad one/);
  });
});
