import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { parsePublicKey } from '@license-ledger/protocol-crypto';
import { parseCertificatePin } from './http-transport';

const SECOND_NS = 1_000_000_000n;

/** Everything the client needs from the gateway's TOML config; see docs/protocol.md "Reference gateway client". */
export interface GatewayClientConfig {
  readonly packageName: string;
  readonly packageVersion: string;
  readonly packageBuildNumber: bigint;
  readonly packageBuildHost: string;
  readonly serviceName: string;
  readonly apiName: string;
  readonly api: string;
  readonly instance: string;
  readonly isUat: boolean;
  readonly servers: readonly string[];
  readonly serverBoxPublicKey: Uint8Array;
  readonly serverSignPublicKey: Uint8Array;
  /** Support's Ed25519 key (optional): tokens it signs are accepted from a token file (docs/protocol.md "Support tokens"). */
  readonly supportSignPublicKey?: Uint8Array;
  /**
   * SHA-256 fingerprints of the servers' TLS certificates (DER), any of which is accepted; empty: any
   * certificate, unvalidated (docs/protocol.md "Transport"). Only for https:// servers.
   */
  readonly serverCertSha256: readonly Uint8Array[];
  readonly stateDir: string;
  readonly tokenLifetimeNs: bigint;
  readonly renewIntervalNs: bigint;
  readonly retryIntervalNs: bigint;
  readonly startupGraceNs: bigint;
  readonly clockToleranceNs: bigint;
  readonly requestTimeoutMs: number;
  /** The `login` of every table under [accounts]; secrets files are never read. */
  readonly logins: readonly string[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Table = Record<string, unknown>;

const isTable = (value: unknown): value is Table => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

function reader(section: Table, where: string) {
  const fail = (key: string, expected: string): never => {
    throw new ConfigError(`${where}.${key} must be ${expected}`);
  };
  return {
    string(key: string, fallback?: string): string {
      const value = section[key] ?? fallback;
      return typeof value === 'string' && (value !== '' || fallback !== undefined) ? value : fail(key, fallback === undefined ? 'a non-empty string (required)' : 'a string');
    },
    bool(key: string, fallback: boolean): boolean {
      const value = section[key] ?? fallback;
      return typeof value === 'boolean' ? value : fail(key, 'true or false');
    },
    /** Non-negative integer, as bigint (smol-toml yields number or bigint). */
    integer(key: string, fallback: number, min = 0): bigint {
      const value = section[key] ?? fallback;
      if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint') {
        const big = BigInt(value);
        if (big >= BigInt(min)) return big;
      }
      return fail(key, `an integer >= ${min}`);
    },
    strings(key: string): string[] {
      const value = section[key] ?? [];
      return Array.isArray(value) && value.every((item): item is string => typeof item === 'string') ? value : fail(key, 'an array of strings');
    },
  };
}

/**
 * Reads the gateway's TOML config: the client's own settings under [license] and the logins of
 * [accounts.*]. Relative `state_dir` is relative to the config file.
 */
export function loadConfig(path: string, overrides: { servers?: readonly string[]; api?: string; pins?: readonly string[] } = {}): GatewayClientConfig {
  let document: Table;
  try {
    document = parse(readFileSync(path, 'utf8'));
  } catch (error: unknown) {
    if (error instanceof TomlError) throw new ConfigError(`${path} is not valid TOML: ${error.message}`);
    throw new ConfigError(`cannot read config ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const license = document['license'];
  if (!isTable(license)) throw new ConfigError(`${path} has no [license] table`);
  const r = reader(license, `${path}: [license]`);

  const accounts = document['accounts'] ?? {};
  if (!isTable(accounts)) throw new ConfigError(`${path}: [accounts] must be a table of account tables`);
  const logins = Object.entries(accounts).map(([name, account]) => {
    if (!isTable(account)) throw new ConfigError(`${path}: accounts.${name} must be a table`);
    return reader(account, `${path}: [accounts.${name}]`).string('login');
  });

  // --server flags replace the configured list.
  const servers = overrides.servers?.length ? [...overrides.servers] : r.strings('servers');
  if (servers.length === 0) throw new ConfigError(`${path}: no license server: set [license].servers or pass --server <url>`);
  for (const server of servers) {
    if (!/^https?:\/\/[^/\s]+/.test(server)) throw new ConfigError(`server URL "${server}" must start with http:// or https://`);
  }
  // --pin-sha256 flags replace the configured pins; one string or a list in the file.
  const configuredPins = typeof license['server_cert_sha256'] === 'string' ? [license['server_cert_sha256']] : r.strings('server_cert_sha256');
  const pinTexts = overrides.pins?.length ? [...overrides.pins] : configuredPins;
  const serverCertSha256 = pinTexts.map((text) => {
    try {
      return parseCertificatePin(text);
    } catch (error: unknown) {
      throw new ConfigError(`${overrides.pins?.length ? '--pin-sha256' : `${path}: [license].server_cert_sha256`}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const plain = servers.find((server) => !server.startsWith('https://'));
  if (serverCertSha256.length > 0 && plain !== undefined) throw new ConfigError(`a pinned certificate needs https:// servers, but "${plain}" is plain http`);
  const seconds = (key: string, fallback: number, min = 0): bigint => r.integer(key, fallback, min) * SECOND_NS;
  const key = (name: string): Uint8Array => {
    try {
      return parsePublicKey(r.string(name), `[license].${name}`);
    } catch (error: unknown) {
      throw new ConfigError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return {
    packageName: r.string('package_name'),
    packageVersion: r.string('package_version', ''),
    packageBuildNumber: r.integer('package_build_number', 0),
    packageBuildHost: r.string('package_build_host', ''),
    serviceName: r.string('service_name', ''),
    apiName: r.string('api_name', ''),
    api: overrides.api ?? r.string('api', ''),
    instance: r.string('instance', ''),
    isUat: r.bool('is_uat', false),
    servers,
    serverBoxPublicKey: key('server_box_public_key'),
    serverSignPublicKey: key('server_sign_public_key'),
    ...(license['support_sign_public_key'] === undefined ? {} : { supportSignPublicKey: key('support_sign_public_key') }),
    serverCertSha256,
    stateDir: resolve(dirname(path), r.string('state_dir')),
    tokenLifetimeNs: seconds('token_lifetime_seconds', 7200, 60),
    renewIntervalNs: seconds('renew_interval_seconds', 1800, 1),
    retryIntervalNs: seconds('retry_interval_seconds', 60, 1),
    startupGraceNs: seconds('startup_grace_seconds', 300),
    clockToleranceNs: seconds('clock_tolerance_seconds', 300),
    requestTimeoutMs: Number(r.integer('request_timeout_seconds', 10, 1)) * 1000,
    logins,
  };
}
