import { parseArgs } from 'node:util';
import { readBoxSecretKeyFile, systemRandom, toBase64, toHex, writeKeyPairFiles, type RandomBytes } from '@license-ledger/protocol-crypto';
import { ConfigError, loadConfig } from './config';
import { HeldLockFile } from './held-locks';
import { collectHostFacts, type HostFacts } from './host-facts';
import { LicenseClient, type HttpPost } from './license-client';
import { LicenseKeeper, exitCode, realSleep, systemClock, type Clock, type KeeperEvent, type Sleep } from './license-keeper';
import { releaseHeldLocks } from './shutdown-release';
import { FileTokenStore, importTokenFile } from './token-store';

export const usage = `usage:
  gateway-client keygen --out <dir>
      writes <dir>/gateway.key (X25519 secret key, mode 0600) and <dir>/gateway.pub (public key, one line of base64)
  gateway-client run --config <toml> --key <file> [--server <url>]... [--api <name>] [--pin-sha256 <fingerprint>]...
                     [--fetch-token-only] [--token-file <file>]
      keeps a license token for the gateway described by <toml>; --server replaces [license].servers;
      --token-file starts from a token handed over out of band (e.g. a support token), verified first;
      on SIGINT/SIGTERM it releases its lock (sealed release request) and prints what became of it
      https:// servers: the certificate is NOT validated (the token's signature is what the client trusts);
      --pin-sha256 (replaces [license].server_cert_sha256) accepts only a certificate with that SHA-256
      fingerprint (as "openssl x509 -noout -fingerprint -sha256" prints it) and sends nothing to any other
exit codes: 0 stopped or token fetched, 1 usage or configuration error, 2 no valid token (start-up grace over,
  or --fetch-token-only failed), 3 token expired, 4 clock behind the latest time seen, 5 lock released by
  an operator (the server's reason is printed)`;

/** What the CLI touches outside itself; tests pass fakes. */
export interface CliEnvironment {
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: RandomBytes;
  readonly post?: HttpPost;
  readonly hostFacts: (nowNs: bigint) => Promise<HostFacts>;
  readonly signal?: AbortSignal;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const realEnvironment = (signal?: AbortSignal): CliEnvironment => ({
  clock: systemClock,
  sleep: realSleep,
  random: systemRandom,
  hostFacts: collectHostFacts,
  ...(signal ? { signal } : {}),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

class UsageError extends Error {}

interface Flags {
  readonly values: Map<string, string[]>;
  readonly switches: Set<string>;
}

/** --name value pairs (or --name=value), repeatable; `switches` take no value. Split by Node's parseArgs. */
function parseFlags(args: readonly string[], valued: readonly string[], switches: readonly string[]): Flags {
  const declared: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const name of valued) declared[name] = { type: 'string', multiple: true };
  for (const name of switches) declared[name] = { type: 'boolean' };
  // Not strict: every mistake is worded here, as the usage words it.
  const { tokens } = parseArgs({ args: [...args], options: declared, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const token of tokens) {
    const arg = args[token.index] ?? '';
    if (token.kind !== 'option' || !token.rawName.startsWith('--')) throw new UsageError(`unknown argument "${arg}"`);
    if (switches.includes(token.name) && token.value === undefined) seen.add(token.name);
    else if (valued.includes(token.name)) {
      // parseArgs takes the next word as the value even when it is another option.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw new UsageError(`${token.rawName} needs a value`);
      values.set(token.name, [...(values.get(token.name) ?? []), token.value]);
    } else throw new UsageError(`unknown argument "${arg}"`);
  }
  return { values, switches: seen };
}

function one(flags: Flags, name: string): string {
  const [value, extra] = flags.values.get(name) ?? [];
  if (value === undefined) throw new UsageError(`--${name} is required`);
  if (extra !== undefined) throw new UsageError(`--${name} is given more than once`);
  return value;
}

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

function describe(event: KeeperEvent): string {
  switch (event.type) {
    case 'cached-token':
      return `running on cached license token ${event.token.tokenId} (agreement ${event.token.agreementId}), valid until ${iso(event.token.expiryTimeUtc)}`;
    case 'cached-token-unusable':
      return `ignoring cached license token: ${event.reason}`;
    case 'renewed':
      return `license token ${event.token.tokenId} from ${event.server} (agreement ${event.token.agreementId}), valid until ${iso(event.token.expiryTimeUtc)}; renewing after ${iso(event.nextRenewNs)}`;
    case 'fetch-failed':
      return `license renewal failed: ${event.message}; retrying at ${iso(event.nextAttemptNs)}${event.runningOnTokenUntilNs === null ? '' : `; running on the current token until ${iso(event.runningOnTokenUntilNs)}`}`;
    default: {
      const unknown: never = event;
      return String(unknown);
    }
  }
}

/** Runs one command; returns the process exit code. */
export async function runCli(args: readonly string[], env: CliEnvironment): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'keygen': {
        const flags = parseFlags(rest, ['out'], []);
        const written = writeKeyPairFiles({ dir: one(flags, 'out'), name: 'gateway', kind: 'box', random: env.random });
        env.out(`wrote ${written.secretKeyPath} (secret, 0600) and ${written.publicKeyPath}; public key ${toBase64(written.publicKey)}`);
        return 0;
      }
      case 'run': {
        const flags = parseFlags(rest, ['config', 'key', 'server', 'api', 'token-file', 'pin-sha256'], ['fetch-token-only']);
        const api = flags.values.get('api')?.[0];
        const config = loadConfig(one(flags, 'config'), { servers: flags.values.get('server') ?? [], pins: flags.values.get('pin-sha256') ?? [], ...(api === undefined ? {} : { api }) });
        const gatewayKey = readBoxSecretKeyFile(one(flags, 'key'));
        const client = new LicenseClient({ config, gatewayKey, random: env.random, hostFacts: env.hostFacts, ...(env.post ? { post: env.post } : {}) });
        const store = new FileTokenStore(config.stateDir);
        const held = new HeldLockFile(config.stateDir);
        const tokenFile = flags.values.get('token-file')?.[0];
        if (tokenFile !== undefined) {
          const imported = importTokenFile(tokenFile, store, (body) => client.openCached(body), env.clock.nowNs());
          env.err(
            imported.kind === 'imported'
              ? `imported license token ${imported.token.tokenId} from ${tokenFile}, valid until ${iso(imported.token.expiryTimeUtc)}`
              : `kept the cached license token ${imported.token.tokenId} (valid until ${iso(imported.token.expiryTimeUtc)}): it runs longer than ${tokenFile}'s`,
          );
        }
        const keeper = new LicenseKeeper({
          clock: env.clock,
          sleep: env.sleep,
          store,
          settings: config,
          obtain: async (nowNs) => {
            const obtained = await client.obtain(nowNs);
            held.record(obtained.lock, nowNs);
            return obtained;
          },
          openCached: (body) => client.openCached(body),
          onEvent: (event) => env.err(describe(event)),
          ...(env.signal ? { signal: env.signal } : {}),
        });
        const outcome = flags.switches.has('fetch-token-only') ? await keeper.fetchOnce() : await keeper.run();
        switch (outcome.kind) {
          case 'stopped':
            await releaseHeldLocks({ client, held, tokens: store, nowNs: env.clock.nowNs(), report: env.err });
            env.err('stopped');
            break;
          case 'released-by-operator': {
            // The whole lock is gone: neither the cached token nor the recorded share counts any more.
            store.clearResponse();
            const ours = toHex(client.configHash);
            held.save(held.load().filter((lock) => toHex(lock.configHash) !== ours));
            env.err(`gateway-client: ${outcome.message}; stopping`);
            break;
          }
          case 'fetched':
            env.out(`fetched license token ${outcome.token.tokenId} from ${outcome.server}, valid until ${iso(outcome.token.expiryTimeUtc)}`);
            break;
          case 'fetch-failed':
          case 'no-token':
          case 'expired':
          case 'clock-rollback':
            env.err(`gateway-client: ${outcome.message}`);
            break;
          default: {
            const unknown: never = outcome;
            throw new Error(`unexpected outcome ${String(unknown)}`);
          }
        }
        return exitCode(outcome);
      }
      default:
        throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
    }
  } catch (error: unknown) {
    if (error instanceof UsageError) {
      env.err(`gateway-client: ${error.message}\n${usage}`);
      return 1;
    }
    if (error instanceof ConfigError || error instanceof Error) {
      env.err(`gateway-client: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
