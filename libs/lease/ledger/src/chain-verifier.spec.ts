import type { LedgerEvent } from '@license-ledger/lease-domain';
import { SigningKey, systemRandom } from '@license-ledger/protocol-crypto';
import { ChainPosition, ChainTracker, initialChainPosition } from './chain-position';
import { chainHash, encodeCheckpointRecord, encodeEventRecord } from './chain-records';
import { ChainVerifier } from './chain-verifier';
import { chainRecords } from './chain-writer';
import { encodeJson } from './records';

const PARTITION = 3;
const T0 = Date.UTC(2026, 2, 1, 12);
const ledgerKey = SigningKey.generate(systemRandom);
const opened = (n: number): LedgerEvent => ({
  type: 'AgreementOpened',
  data: { agreementId: `agr-${n}`, name: `Agreement ${n}`, licenses: n, bounds: { minMs: 1, maxMs: 3, defaultMs: 2 } },
  metadata: { requestId: `req-${n}`, at: T0 + n },
});
const marker = encodeJson({ type: 'PartitionClaimed', data: { partition: PARTITION, owner: 'lease-b', claimId: 'c1' }, metadata: { at: T0 } });

/** A partition's log as owners write it: a claim marker, three transactions, the second signed. */
function honestLog(): { values: Buffer[]; end: ChainPosition } {
  const tracker = new ChainTracker(initialChainPosition(PARTITION));
  const values: Buffer[] = [marker];
  tracker.follow(marker);
  let position = tracker.position();
  for (const [events, signed] of [[[opened(1), opened(2)], false], [[opened(3)], true], [[opened(4), opened(5)], false]] as const) {
    const chained = chainRecords(PARTITION, position, events, signed ? { signer: ledgerKey, at: T0 + 10 } : undefined);
    values.push(...chained.records.map((r) => r.value));
    position = chained.end;
  }
  return { values, end: position };
}

function verify(values: readonly Buffer[], trustedKeys: Uint8Array[] = [ledgerKey.publicKey]): ChainVerifier {
  const verifier = new ChainVerifier({ trustedKeys });
  verifier.begin(PARTITION, 0n);
  values.forEach((value, offset) => verifier.observe(PARTITION, BigInt(offset), value));
  return verifier;
}

const problemsOf = (verifier: ChainVerifier): Array<[bigint, string]> => verifier.problems.map((p) => [p.offset, p.message]);

describe('the events chain', () => {
  it('verifies an untouched log, and the lease reader, the owner and verify agree on its head', () => {
    const { values, end } = honestLog();
    const verifier = verify(values);
    expect(verifier.problems).toEqual([]);
    expect(verifier.summaries()).toEqual([
      {
        partition: PARTITION,
        records: 7,
        chainStart: 1n,
        unchainedUpTo: undefined,
        readFrom: undefined,
        checkpoints: 1,
        lastCheckpoint: { offset: 4n, at: T0 + 10, keyId: ledgerKey.keyId },
        unsigned: 2,
      },
    ]);
    const reader = new ChainTracker(initialChainPosition(PARTITION));
    for (const value of values) reader.follow(value);
    expect(reader.position()).toEqual(end);
    expect(end).toMatchObject({ sinceCheckpoint: 2, lastCheckpointAt: T0 + 10 });
  });

  it('names the record after an altered one', () => {
    const { values } = honestLog();
    const altered = [...values];
    const event = Buffer.from(altered[2] as Buffer);
    event.writeUInt8((event.at(-1) ?? 0) ^ 1, event.length - 1);
    altered[2] = event;
    expect(problemsOf(verify(altered))).toEqual([[3n, expect.stringMatching(/does not link to the record at offset 2: that record was altered/)]]);
  });

  it('names the record after a removed one', () => {
    const { values } = honestLog();
    expect(problemsOf(verify([...values.slice(0, 2), ...values.slice(3)]))).toEqual([[2n, expect.stringMatching(/does not link to the record at offset 1/)]]);
  });

  it('names an insertion, also one linked correctly by someone who read the log', () => {
    const { values } = honestLog();
    const headAt2 = values.slice(0, 3).reduce((head, value) => chainHash(head, value), initialChainPosition(PARTITION).head);
    const forged = encodeEventRecord(opened(99), headAt2);
    const inserted = [...values.slice(0, 3), forged, ...values.slice(3)];
    // The forged record itself links fine; the owner's next record links past it.
    expect(problemsOf(verify(inserted))).toEqual([[4n, expect.stringMatching(/links to the record at offset 2, not to the record at offset 3: .* inserted or moved/)]]);
    // An unlinked (JSON) event after the chain started is named at once.
    const unlinked = [...values.slice(0, 3), encodeJson(opened(99)), ...values.slice(3)];
    expect(problemsOf(verify(unlinked))[0]).toEqual([3n, expect.stringMatching(/without a chain link after the chain started \(offset 1\)/)]);
  });

  it('names a reordering', () => {
    const { values } = honestLog();
    const swapped = [values[0], values[2], values[1], ...values.slice(3)] as Buffer[];
    expect(problemsOf(verify(swapped))[0]?.[0]).toBe(1n);
  });

  it('names a forged checkpoint signature, and one by another key when the ledger key is given', () => {
    const { values } = honestLog();
    const head = values.reduce((h, value) => chainHash(h, value), initialChainPosition(PARTITION).head);
    const forged = Buffer.from(encodeCheckpointRecord(PARTITION, head, T0 + 20, ledgerKey));
    forged.writeUInt8((forged.at(-1) ?? 0) ^ 0x40, forged.length - 1);
    expect(problemsOf(verify([...values, forged]))).toEqual([[7n, expect.stringMatching(/signature does not verify .*forged or altered/)]]);

    const intruder = SigningKey.generate(systemRandom);
    const signedElsewhere = encodeCheckpointRecord(PARTITION, head, T0 + 20, intruder);
    expect(problemsOf(verify([...values, signedElsewhere]))).toEqual([[7n, expect.stringMatching(`signed by key ${intruder.keyId}, which is not a ledger key`)]]);
    // Without the ledger key given, a well-formed signature is all that can be checked.
    expect(verify([...values, signedElsewhere], []).problems).toEqual([]);
  });

  it('reports the records of an older version as an unchained prefix, covered from the first linked record on', () => {
    const legacy = [encodeJson(opened(1)), marker, encodeJson(opened(2))];
    const tracker = new ChainTracker(initialChainPosition(PARTITION));
    for (const value of legacy) tracker.follow(value);
    const chained = chainRecords(PARTITION, tracker.position(), [opened(3)], { signer: ledgerKey, at: T0 });
    const values = [...legacy, ...chained.records.map((r) => r.value)];
    const verifier = verify(values);
    expect(verifier.problems).toEqual([]);
    expect(verifier.summaries()[0]).toMatchObject({ unchainedUpTo: 2n, chainStart: 3n, checkpoints: 1, unsigned: 0 });
    // The first linked record covers the prefix: altering an old record shows there.
    const alteredPrefix = [encodeJson(opened(7)), ...values.slice(1)];
    expect(problemsOf(verify(alteredPrefix))).toEqual([[3n, expect.stringMatching(/does not link to the record at offset 2/)]]);
  });

  it('checks links from the first linked record when reading starts past the log start', () => {
    const { values } = honestLog();
    const verifier = new ChainVerifier({ trustedKeys: [] });
    verifier.begin(PARTITION, 2n);
    values.slice(2).forEach((value, n) => verifier.observe(PARTITION, BigInt(n + 2), value));
    expect(verifier.problems).toEqual([]);
    expect(verifier.summaries()[0]).toMatchObject({ readFrom: 2n, chainStart: 2n });
  });
});
