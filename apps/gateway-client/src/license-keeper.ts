import type { AccessToken } from '@license-ledger/protocol-wire';
import { LicenseRefusedError, type ObtainedToken } from './license-client';
import type { TokenStore } from './token-store';

/** Wall clock in ns since the Unix epoch; injected so tests drive time. */
export interface Clock {
  nowNs(): bigint;
}

export const systemClock: Clock = { nowNs: () => BigInt(Date.now()) * 1_000_000n };

/** Waits `ms` or until `signal` aborts; injected so tests jump a fake clock instead of sleeping. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export interface KeeperSettings {
  readonly startupGraceNs: bigint;
  readonly renewIntervalNs: bigint;
  readonly retryIntervalNs: bigint;
  readonly clockToleranceNs: bigint;
}

/** How a run ends. */
export type Outcome =
  | { readonly kind: 'stopped' }
  | { readonly kind: 'fetched'; readonly token: AccessToken; readonly server: string }
  | { readonly kind: 'fetch-failed'; readonly message: string }
  | { readonly kind: 'no-token'; readonly message: string }
  | { readonly kind: 'expired'; readonly message: string }
  | { readonly kind: 'clock-rollback'; readonly message: string }
  /** Ops released this process's lock by force (the server's refusal says who and why): the gateway must stop. */
  | { readonly kind: 'released-by-operator'; readonly message: string };

export function exitCode(outcome: Outcome): number {
  switch (outcome.kind) {
    case 'stopped':
    case 'fetched':
      return 0;
    case 'fetch-failed':
    case 'no-token':
      return 2;
    case 'expired':
      return 3;
    case 'clock-rollback':
      return 4;
    case 'released-by-operator':
      return 5;
    default: {
      const unknown: never = outcome;
      return unknown;
    }
  }
}

export type KeeperEvent =
  | { readonly type: 'cached-token'; readonly token: AccessToken }
  | { readonly type: 'cached-token-unusable'; readonly reason: string }
  | { readonly type: 'renewed'; readonly token: AccessToken; readonly server: string; readonly nextRenewNs: bigint }
  | { readonly type: 'fetch-failed'; readonly message: string; readonly nextAttemptNs: bigint; readonly runningOnTokenUntilNs: bigint | null };

/** Upper bound of one sleep, so clock rollback and the state file are checked at least every minute. */
const HEARTBEAT_NS = 60_000_000_000n;

const seconds = (ns: bigint): string => `${Number(ns / 1_000_000n) / 1000} s`;
const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();
const minBig = (...values: bigint[]): bigint => values.reduce((a, b) => (b < a ? b : a));
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Keeps a gateway licensed: runs on a valid (possibly cached) token, renews it after its renew time,
 * retries while servers fail, and ends the run when there is no valid token past the start-up grace,
 * when the token expires, or when the clock has gone back.
 */
export class LicenseKeeper {
  private lastSeenNs: bigint | null = null;

  constructor(
    private readonly deps: {
      clock: Clock;
      sleep: Sleep;
      store: TokenStore;
      settings: KeeperSettings;
      obtain(nowNs: bigint): Promise<ObtainedToken>;
      openCached(body: Uint8Array): AccessToken;
      onEvent?(event: KeeperEvent): void;
      signal?: AbortSignal;
    },
  ) {}

  /** --fetch-token-only: one round over the servers, cache the response, done. */
  async fetchOnce(): Promise<Outcome> {
    const now = this.deps.clock.nowNs();
    const rollback = this.observe(now);
    if (rollback) return rollback;
    try {
      const obtained = await this.deps.obtain(now);
      this.deps.store.saveResponse(obtained.body);
      return { kind: 'fetched', token: obtained.token, server: obtained.server };
    } catch (error: unknown) {
      return { kind: 'fetch-failed', message: errorText(error) };
    }
  }

  async run(): Promise<Outcome> {
    const { clock, store, settings } = this.deps;
    const startNs = clock.nowNs();
    const rollback = this.observe(startNs);
    if (rollback) return rollback;
    let token = this.cachedToken(startNs);
    let nextAttemptNs = token ? this.renewAt(token) : startNs;
    let lastError = 'no attempt yet';

    for (;;) {
      if (this.deps.signal?.aborted) return { kind: 'stopped' };
      const now = clock.nowNs();
      const wentBack = this.observe(now);
      if (wentBack) return wentBack;
      if (token && now >= token.expiryTimeUtc) {
        return { kind: 'expired', message: `license token ${token.tokenId} expired at ${iso(token.expiryTimeUtc)} and could not be renewed (${lastError})` };
      }
      if (!token && now >= startNs + settings.startupGraceNs) {
        return { kind: 'no-token', message: `no valid license token within the start-up grace of ${seconds(settings.startupGraceNs)}: ${lastError}` };
      }
      if (now >= nextAttemptNs) {
        try {
          const obtained = await this.deps.obtain(now);
          token = obtained.token;
          store.saveResponse(obtained.body);
          nextAttemptNs = this.renewAt(token);
          lastError = 'no error';
          this.deps.onEvent?.({ type: 'renewed', token, server: obtained.server, nextRenewNs: nextAttemptNs });
        } catch (error: unknown) {
          // Retrying cannot help: this process's lock is gone for good (a restart is a new session).
          if (error instanceof LicenseRefusedError && error.reason === 'lock_released_by_operator') return { kind: 'released-by-operator', message: error.message };
          lastError = errorText(error);
          nextAttemptNs = now + settings.retryIntervalNs;
          this.deps.onEvent?.({ type: 'fetch-failed', message: lastError, nextAttemptNs, runningOnTokenUntilNs: token?.expiryTimeUtc ?? null });
        }
        continue;
      }
      const wakeNs = minBig(nextAttemptNs, token ? token.expiryTimeUtc : startNs + settings.startupGraceNs, now + HEARTBEAT_NS);
      await this.deps.sleep(Number((wakeNs - now + 999_999n) / 1_000_000n), this.deps.signal);
    }
  }

  /** Renew at the token's renew time, but at least every renew interval after issue. */
  private renewAt(token: AccessToken): bigint {
    return minBig(token.renewTimeUtc, token.issuedTimeUtc + this.deps.settings.renewIntervalNs);
  }

  private cachedToken(now: bigint): AccessToken | null {
    const body = this.deps.store.loadResponse();
    if (!body) return null;
    let token: AccessToken;
    try {
      token = this.deps.openCached(body);
    } catch (error: unknown) {
      this.deps.onEvent?.({ type: 'cached-token-unusable', reason: errorText(error) });
      return null;
    }
    if (token.expiryTimeUtc <= now) {
      this.deps.onEvent?.({ type: 'cached-token-unusable', reason: `cached token ${token.tokenId} expired at ${iso(token.expiryTimeUtc)}` });
      return null;
    }
    this.deps.onEvent?.({ type: 'cached-token', token });
    return token;
  }

  /** Records the time; an outcome when the clock is behind the latest time seen by more than the tolerance. */
  private observe(now: bigint): Outcome | null {
    const lastSeen = this.lastSeenNs ?? this.deps.store.loadLastSeen();
    if (lastSeen !== null && now + this.deps.settings.clockToleranceNs < lastSeen) {
      return {
        kind: 'clock-rollback',
        message: `system clock (${iso(now)}) is ${seconds(lastSeen - now)} behind the latest time this client saw (${iso(lastSeen)}), more than the tolerance of ${seconds(this.deps.settings.clockToleranceNs)}; refusing to run until the clock is corrected`,
      };
    }
    const latest = lastSeen !== null && lastSeen > now ? lastSeen : now;
    if (latest !== this.lastSeenNs) this.deps.store.saveLastSeen(latest);
    this.lastSeenNs = latest;
    return null;
  }
}
