import { LedgerCommand } from '@license-ledger/lease-domain';
import { initialChainPosition } from './chain-position';
import { chainRecords } from './chain-writer';
import { ledgerOf, transferListOf, transferOf } from './ledger-transfer';
import { PartitionLedger } from './partition-ledger';

const T0 = Date.UTC(2026, 0, 1);
const key = Buffer.alloc(32, 3).toString('base64');
const hash = (n: number): string => n.toString(16).padStart(64, '0');
const cmd = (type: LedgerCommand['type'], data: Record<string, unknown>, requestId: string): LedgerCommand =>
  ({ type, data: { agreementId: 'a1', ...data }, metadata: { requestId } }) as unknown as LedgerCommand;

/** A partition's log as an owner wrote it: an agreement, a key, gateways taking and leaving locks. */
function writtenLog(): Buffer[] {
  const owner = new PartitionLedger(2);
  const events = [
    ...owner.decideAndApply(cmd('OpenAgreement', { name: 'A', licenses: 3 }, 'open'), T0).events,
    ...owner.decideAndApply(cmd('BindReservedKey', { key }, 'bind'), T0).events,
  ];
  for (let n = 0; n < 12; n++) {
    const holder = { key, hostname: `gw-${n % 4}`, processId: n % 4, sessionId: `s-${n % 4}` };
    const type = n % 5 === 4 ? 'ReleaseLock' : 'AcquireLock';
    events.push(...owner.decideAndApply(cmd(type, { configHash: hash(n % 4), holder }, `r${n}`), T0 + n * 1_000).events);
  }
  return chainRecords(2, initialChainPosition(2), events, undefined).records.map((record) => record.value);
}

describe('a ledger moved to another thread', () => {
  it('arrives with the state, memory and chain position it left with, and goes on as the original does', () => {
    const log = writtenLog();
    const original = new PartitionLedger(2);
    log.slice(0, 10).forEach((value, offset) => original.applyFromLog(BigInt(offset), value));
    const transferred = transferOf(original, 10);
    // What postMessage does with the transfer list: the receiver gets the bytes, the sender keeps none.
    const received = structuredClone(transferred, { transfer: transferListOf([transferred]) });
    expect(transferred.body.byteLength).toBe(0);
    const moved = ledgerOf(received);
    expect(received.applied).toBe(10);
    expect(moved.exportState()).toEqual(original.exportState());
    log.slice(10).forEach((value, n) => {
      original.applyFromLog(BigInt(10 + n), value);
      moved.applyFromLog(BigInt(10 + n), value);
    });
    expect(moved.exportState()).toEqual(original.exportState());
    const next = cmd('AcquireLock', { configHash: hash(9), holder: { key, hostname: 'gw-9', processId: 9, sessionId: 's-9' } }, 'next');
    expect(moved.decideAndApply(next, T0 + 60_000)).toEqual(original.decideAndApply(next, T0 + 60_000));
    expect(moved.decideAndApply(cmd('AcquireLock', {}, 'r3'), T0 + 60_000)).toMatchObject({ duplicate: true });
  });

  it('refuses a body that names another partition', () => {
    const original = new PartitionLedger(2);
    writtenLog().forEach((value, offset) => original.applyFromLog(BigInt(offset), value));
    expect(() => ledgerOf({ ...transferOf(original, 1), partition: 3 })).toThrow(RangeError);
  });
});
