import type { PartitionChainSummary } from '@license-ledger/lease-ledger';
import { readPublicKeyFile } from '@license-ledger/protocol-crypto';
import { UsageError } from './args';
import { formatTime } from './format';

/**
 * The ledger public keys `verify` trusts: --ledger-key, else LEDGER_PUBLIC_KEY_FILE. None: each
 * checkpoint is checked against the key it names (a forged or altered signature still shows; a
 * checkpoint signed by some other key does not).
 */
export function trustedLedgerKeys(ledgerKeyFile: string | undefined, env: Readonly<Record<string, string | undefined>>): Uint8Array[] {
  const path = ledgerKeyFile ?? env['LEDGER_PUBLIC_KEY_FILE'];
  if (path === undefined || path === '') return [];
  try {
    return [readPublicKeyFile(path)];
  } catch (error) {
    throw new UsageError(`ledger key ${path}: ${error instanceof Error ? error.message : String(error)} (give the .pub file of the ledger key)`);
  }
}

/** What `verify` says about each partition's chain besides its problems. */
export function chainSummaryLines(summaries: readonly PartitionChainSummary[], keysTrusted: boolean): string[] {
  const linked = summaries.filter((s) => s.chainStart !== undefined);
  const withEvents = summaries.filter((s) => s.chainStart !== undefined || s.unchainedUpTo !== undefined);
  const checkpoints = summaries.reduce((sum, s) => sum + s.checkpoints, 0);
  const signers = [...new Set(summaries.flatMap((s) => (s.lastCheckpoint ? [s.lastCheckpoint.keyId] : [])))];
  const lines = [
    `chains: ${linked.length} of ${withEvents.length} partition(s) with events linked, ${checkpoints} checkpoint(s)` +
      (signers.length > 0 ? ` signed by key ${signers.join(', ')}${keysTrusted ? ' (the ledger key given)' : ' (no ledger key given: signatures checked against the key each checkpoint names)'}` : ''),
  ];
  for (const s of summaries) {
    if (s.readFrom !== undefined) lines.push(`  partition ${s.partition}: read from offset ${s.readFrom} (earlier records deleted): links checked from the first linked record on`);
    if (s.chainStart === undefined) {
      if (s.unchainedUpTo !== undefined) lines.push(`  partition ${s.partition}: unchained: its events up to offset ${s.unchainedUpTo} were written before the chain existed`);
      continue;
    }
    if (s.unchainedUpTo !== undefined) lines.push(`  partition ${s.partition}: unchained prefix up to offset ${s.unchainedUpTo} (written before the chain existed); chained from offset ${s.chainStart}`);
    if (s.unsigned > 0) {
      const since = s.lastCheckpoint ? `the last checkpoint (offset ${s.lastCheckpoint.offset}, ${formatTime(s.lastCheckpoint.at)})` : 'the chain started (no checkpoint yet)';
      lines.push(`  partition ${s.partition}: ${s.unsigned} record(s) since ${since} are linked but not signed yet`);
    }
  }
  return lines;
}
