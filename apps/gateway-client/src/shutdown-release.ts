import { toHex } from '@license-ledger/protocol-crypto';
import type { HeldLock } from './held-locks';
import type { ReleaseResult } from './license-client';

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export function describeRelease(lock: HeldLock, result: ReleaseResult): string {
  const what = `lock ${toHex(lock.configHash)} (license token ${lock.tokenId})`;
  if (result.kind === 'refused') return `release of ${what} refused by ${result.server}: ${result.reason}: ${result.message}`;
  const { answer } = result;
  if (answer.freed) return `released ${what} at ${result.server}: the license is free again`;
  if (answer.keptUntilUtc > 0n) return `released ${what} at ${result.server}: it still counts until ${iso(answer.keptUntilUtc)} (the agreement's linger)`;
  return `released ${what} at ${result.server}: other processes of this configuration still hold it`;
}

/**
 * On a clean shutdown: gives back every live share of a lock this state directory recorded (this
 * process's, and any an earlier process left). A share a server answered for, released or refused
 * (`lock_not_held`: nothing to give back), is forgotten; one no server answered is kept for the next
 * shutdown and runs out at its expiry meanwhile. Once every share is answered for, the cached token
 * is dropped: its lock no longer counts, so a restart must ask again instead of running on it.
 */
export async function releaseHeldLocks(options: {
  readonly client: { release(lock: HeldLock, nowNs: bigint): Promise<ReleaseResult> };
  readonly held: { load(): HeldLock[]; save(locks: readonly HeldLock[]): void };
  readonly tokens: { clearResponse(): void };
  readonly nowNs: bigint;
  readonly report: (line: string) => void;
}): Promise<void> {
  const { client, held, tokens, nowNs, report } = options;
  const live = held.load().filter((lock) => lock.expiresNs > nowNs);
  if (live.length === 0) {
    held.save([]);
    report('no lock to release (no license server granted this gateway a lock that is still live)');
    return;
  }
  const unanswered: HeldLock[] = [];
  for (const lock of live) {
    try {
      report(describeRelease(lock, await client.release(lock, nowNs)));
    } catch (error: unknown) {
      unanswered.push(lock);
      report(`release of lock ${toHex(lock.configHash)} failed: ${errorText(error)}; it counts until ${iso(lock.expiresNs)} at the latest`);
    }
  }
  held.save(unanswered);
  if (unanswered.length === 0) tokens.clearResponse();
}
