import { join } from 'node:path';
import { fromHex, toHex } from '@license-ledger/protocol-crypto';
import { readIfExists, writeAtomically } from './token-store';

/**
 * A gateway process's share of a lock, as the ledger knows it: the config hash and the process's
 * names (hostname, process id, session id) from the LicenseRequest that was granted, the token that
 * grant produced, and when the lock ran out at the latest by that token.
 */
export interface HeldLock {
  readonly tokenId: string;
  readonly configHash: Uint8Array;
  readonly hostname: string;
  readonly processId: bigint;
  readonly sessionId: string;
  readonly expiresNs: bigint;
}

const sameHolder = (a: HeldLock, b: HeldLock): boolean =>
  a.sessionId === b.sessionId && a.processId === b.processId && a.hostname === b.hostname && toHex(a.configHash) === toHex(b.configHash);

interface StoredLock {
  readonly token_id: string;
  readonly config_hash: string;
  readonly hostname: string;
  readonly process_id: string;
  readonly session_id: string;
  readonly expires_ns: string;
}

function parseStored(value: unknown): HeldLock | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Partial<Record<keyof StoredLock, unknown>>;
  const texts = [v.token_id, v.config_hash, v.hostname, v.process_id, v.session_id, v.expires_ns];
  if (!texts.every((text): text is string => typeof text === 'string')) return null;
  const [tokenId, configHash, hostname, processId, sessionId, expiresNs] = texts as [string, string, string, string, string, string];
  if (!/^[0-9a-f]{64}$/.test(configHash) || !/^\d+$/.test(processId) || !/^\d+$/.test(expiresNs)) return null;
  return { tokenId, configHash: fromHex(configHash), hostname, processId: BigInt(processId), sessionId, expiresNs: BigInt(expiresNs) };
}

/**
 * `<state_dir>/held-locks.json`: the shares of locks this gateway's processes were granted and have
 * not given back. A clean shutdown releases each live one, its own and those a crashed or earlier
 * process left behind (a restart that runs on the cached token renews under a new session, so the
 * old session's share would otherwise count until the lock expires).
 */
export class HeldLockFile {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'held-locks.json');
  }

  /** The recorded shares; an unreadable file counts as none (the locks then simply run out). */
  load(): HeldLock[] {
    const text = readIfExists(this.path)?.toString('utf8');
    if (!text) return [];
    try {
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? parsed.map(parseStored).filter((lock): lock is HeldLock => lock !== null) : [];
    } catch {
      return [];
    }
  }

  save(locks: readonly HeldLock[]): void {
    const stored: StoredLock[] = locks.map((lock) => ({
      token_id: lock.tokenId,
      config_hash: toHex(lock.configHash),
      hostname: lock.hostname,
      process_id: lock.processId.toString(),
      session_id: lock.sessionId,
      expires_ns: lock.expiresNs.toString(),
    }));
    writeAtomically(this.path, Buffer.from(`${JSON.stringify(stored, null, 1)}\n`));
  }

  /** A grant: this process's share (replacing its earlier token), without the shares that ran out by `nowNs`. */
  record(lock: HeldLock, nowNs: bigint): void {
    this.save([...this.load().filter((held) => held.expiresNs > nowNs && !sameHolder(held, lock)), lock]);
  }
}
