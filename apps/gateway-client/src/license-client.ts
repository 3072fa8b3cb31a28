import { randomUUID } from 'node:crypto';
import { configHash, VerifyKey, type BoxSecretKey, type RandomBytes } from '@license-ledger/protocol-crypto';
import {
  LICENSE_PATH,
  LICENSE_RELEASE_PATH,
  openLicenseResponse,
  openReleaseAnswer,
  openSupportToken,
  parseLicenseErrorBody,
  sealLicenseRequest,
  sealReleaseRequest,
  TokenRejectedError,
  type LicenseErrorReason,
} from '@license-ledger/protocol-exchange';
import { REQUEST_NONCE_BYTES, type AccessToken, type LicenseRequest, type ReleaseAnswer } from '@license-ledger/protocol-wire';
import type { GatewayClientConfig } from './config';
import type { HeldLock } from './held-locks';
import type { HostFacts } from './host-facts';
import { httpPost, type HttpPost } from './http-transport';

export type { HttpPost } from './http-transport';

/** Counters, histograms and feature flags a real gateway reports; the reference client has none to report. */
export type GatewayStats = Partial<Omit<LicenseRequest, keyof HostFacts | 'nonce' | 'configHash' | 'requestTimeUtc' | 'tokenExpiryTimeUtc'>>;

export interface ObtainedToken {
  readonly token: AccessToken;
  /** The 200 body as received: what the client caches. */
  readonly body: Uint8Array;
  readonly server: string;
  /** This process's share of the lock the token stands for: what a release gives back. */
  readonly lock: HeldLock;
}

/** Every server failed (or one refused); `message` says what each did. */
export class LicenseFetchError extends Error {
  override readonly name = 'LicenseFetchError';
}

/** A server answered 400: the ledger's refusal, final for this attempt. */
export class LicenseRefusedError extends LicenseFetchError {
  constructor(
    readonly server: string,
    readonly reason: LicenseErrorReason,
    readonly detail: string,
  ) {
    super(`${server} refused the license: ${reason}: ${detail}`);
  }
}

/** What a server said to a release: what became of the lock, or the ledger's refusal (nothing changed). */
export type ReleaseResult =
  | { readonly kind: 'released'; readonly server: string; readonly answer: ReleaseAnswer }
  | { readonly kind: 'refused'; readonly server: string; readonly reason: LicenseErrorReason; readonly message: string };

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Builds, seals and sends LicenseRequests, trying each server in turn, and verifies what comes back. */
export class LicenseClient {
  readonly configHash: Uint8Array;
  readonly verifyKey: VerifyKey;
  /** Support's key, when configured: a cached (or imported) token may be a support token signed by it. */
  readonly supportVerifyKey: VerifyKey | undefined;
  private readonly sessionId = randomUUID();
  private readonly defaultPost: HttpPost;

  constructor(
    private readonly options: {
      config: GatewayClientConfig;
      gatewayKey: BoxSecretKey;
      random: RandomBytes;
      hostFacts: (nowNs: bigint) => Promise<HostFacts>;
      post?: HttpPost;
      stats?: () => GatewayStats;
    },
  ) {
    this.configHash = configHash(options.config.packageName, options.config.logins);
    this.verifyKey = VerifyKey.fromBytes(options.config.serverSignPublicKey);
    this.supportVerifyKey = options.config.supportSignPublicKey && VerifyKey.fromBytes(options.config.supportSignPublicKey);
    this.defaultPost = httpPost({ pins: options.config.serverCertSha256 });
  }

  /**
   * Checks a cached response as strictly as a fresh one, except for the nonce of a request we no
   * longer know. With a support key configured it may also be a support token (never a server's answer).
   */
  openCached(body: Uint8Array): AccessToken {
    try {
      return this.open(body);
    } catch (error: unknown) {
      if (!this.supportVerifyKey || !(error instanceof TokenRejectedError)) throw error;
      const { config, gatewayKey } = this.options;
      try {
        return openSupportToken({ body, gatewayKey, supportVerifyKey: this.supportVerifyKey, expected: { configHash: this.configHash, packageName: config.packageName } });
      } catch (supportError: unknown) {
        throw new TokenRejectedError(`neither a server token (${error.message}) nor a support token (${errorText(supportError)})`);
      }
    }
  }

  async obtain(nowNs: bigint): Promise<ObtainedToken> {
    const { config, gatewayKey, random } = this.options;
    const request: LicenseRequest = {
      ...this.defaults(),
      ...(this.options.stats?.() ?? {}),
      ...(await this.options.hostFacts(nowNs)),
      requestTimeUtc: nowNs,
      tokenExpiryTimeUtc: nowNs + config.tokenLifetimeNs,
      nonce: random(REQUEST_NONCE_BYTES),
      configHash: this.configHash,
    };
    const body = sealLicenseRequest({ request, gatewayKey, serverBoxPublicKey: config.serverBoxPublicKey, random });
    const post = this.post;
    const failures: string[] = [];
    for (const server of config.servers) {
      const url = `${server.replace(/\/+$/, '')}${LICENSE_PATH}`;
      let response: { status: number; body: Uint8Array };
      try {
        response = await post(url, body, config.requestTimeoutMs);
      } catch (error: unknown) {
        failures.push(`${server}: ${errorText(error)}`);
        continue;
      }
      if (response.status === 200) {
        try {
          const token = this.open(response.body, request.nonce);
          if (token.expiryTimeUtc <= nowNs) throw new TokenRejectedError('token has already expired by this clock');
          const { hostname, processId, sessionId } = request;
          return { token, body: response.body, server, lock: { tokenId: token.tokenId, configHash: this.configHash, hostname, processId, sessionId, expiresNs: token.expiryTimeUtc } };
        } catch (error: unknown) {
          // A server that answers with a token we must not trust is as good as down: try the next.
          failures.push(`${server}: rejected its token: ${errorText(error)}`);
          continue;
        }
      }
      if (response.status === 400) {
        const refusal = parseJson(response.body);
        if (refusal) throw new LicenseRefusedError(server, refusal.reason, refusal.message);
      }
      failures.push(`${server}: HTTP ${response.status}`);
    }
    throw new LicenseFetchError(`no license server answered: ${failures.join('; ')}`);
  }

  /**
   * Gives `lock` back (docs/protocol.md "Release"): one sealed ReleaseRequest, sent to each server in
   * turn until one answers 200 (checked like a token: from the pinned server key, for this request)
   * or 400. Throws LicenseFetchError when none does; the lock then runs out at its expiry.
   */
  async release(lock: HeldLock, nowNs: bigint): Promise<ReleaseResult> {
    const { config, gatewayKey, random } = this.options;
    const { tokenId, configHash: hash, hostname, processId, sessionId } = lock;
    const nonce = random(REQUEST_NONCE_BYTES);
    const body = sealReleaseRequest({
      request: { tokenId, requestTimeUtc: nowNs, nonce, configHash: hash, hostname, processId, sessionId },
      gatewayKey,
      serverBoxPublicKey: config.serverBoxPublicKey,
      random,
    });
    const failures: string[] = [];
    for (const server of config.servers) {
      let response: { status: number; body: Uint8Array };
      try {
        response = await this.post(`${server.replace(/\/+$/, '')}${LICENSE_RELEASE_PATH}`, body, config.requestTimeoutMs);
      } catch (error: unknown) {
        failures.push(`${server}: ${errorText(error)}`);
        continue;
      }
      if (response.status === 200) {
        try {
          const answer = openReleaseAnswer({ body: response.body, gatewayKey, serverBoxPublicKey: config.serverBoxPublicKey, expected: { nonce, configHash: hash } });
          return { kind: 'released', server, answer };
        } catch (error: unknown) {
          failures.push(`${server}: rejected its answer: ${errorText(error)}`);
          continue;
        }
      }
      const refusal = response.status === 400 ? parseJson(response.body) : null;
      if (refusal) return { kind: 'refused', server, reason: refusal.reason, message: refusal.message };
      failures.push(`${server}: HTTP ${response.status}`);
    }
    throw new LicenseFetchError(`no license server answered the release: ${failures.join('; ')}`);
  }

  private get post(): HttpPost {
    return this.options.post ?? this.defaultPost;
  }

  private open(body: Uint8Array, nonce?: Uint8Array): AccessToken {
    const { config, gatewayKey } = this.options;
    return openLicenseResponse({
      body,
      gatewayKey,
      serverBoxPublicKey: config.serverBoxPublicKey,
      serverVerifyKey: this.verifyKey,
      expected: { configHash: this.configHash, packageName: config.packageName, ...(nonce ? { nonce } : {}) },
    });
  }

  private defaults(): Omit<LicenseRequest, keyof HostFacts | 'nonce' | 'configHash' | 'requestTimeUtc' | 'tokenExpiryTimeUtc'> {
    const { config } = this.options;
    return {
      packageName: config.packageName,
      packageVersion: config.packageVersion,
      packageBuildNumber: config.packageBuildNumber,
      packageBuildHost: config.packageBuildHost,
      serviceName: config.serviceName,
      apiName: config.apiName,
      api: config.api,
      instance: config.instance,
      sessionId: this.sessionId,
      isUat: config.isUat,
      symbols: 0n,
      totalSymbols: 0n,
      accounts: BigInt(new Set(config.logins).size),
      users: 0n,
      createOrder: 0n,
      modifyOrder: 0n,
      cancelOrder: 0n,
      cancelAllOrders: 0n,
      massQuote: 0n,
      cancelQuotes: 0n,
      pleaseReport: false,
      pleaseReportDetails: false,
      downloadTrades: false,
      downloadOrders: false,
      eventLog: false,
      positionManager: false,
      riskManager: false,
      journal: false,
      udpPublish: false,
      internalLatencySum: 0n,
      internalLatencyCount500ns: 0n,
      internalLatencyCount1us: 0n,
      internalLatencyCount2us: 0n,
      internalLatencyCount5us: 0n,
      internalLatencyCount10us: 0n,
      internalLatencyCount20us: 0n,
      internalLatencyCountInf: 0n,
      externalLatencySum: 0n,
      externalLatencyCount10us: 0n,
      externalLatencyCount100us: 0n,
      externalLatencyCount1ms: 0n,
      externalLatencyCount10ms: 0n,
      externalLatencyCount100ms: 0n,
      externalLatencyCount1s: 0n,
      externalLatencyCountInf: 0n,
    };
  }
}

function parseJson(body: Uint8Array): ReturnType<typeof parseLicenseErrorBody> {
  try {
    return parseLicenseErrorBody(JSON.parse(new TextDecoder().decode(body)));
  } catch {
    return null;
  }
}
