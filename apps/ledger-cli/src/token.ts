import { randomUUID } from 'node:crypto';
import { closeSync, fchmodSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { isConfigHash, MAX_NOTE_LENGTH, type IssueSupportLock } from '@license-ledger/lease-domain';
import { configHash, fromBase64, fromHex, readSigningKeyFile, systemRandom, toHex, type RandomBytes, type SigningKey } from '@license-ledger/protocol-crypto';
import { sealSupportToken } from '@license-ledger/protocol-exchange';
import { REQUEST_NONCE_BYTES, type AccessToken } from '@license-ledger/protocol-wire';
import { parseDuration, parseInstant, UsageError } from './args';
import { resolveGatewayKey, type CliDependencies } from './cli';
import { formatOutcome, formatTime } from './format';
import { checkLedgerConfig, decideOnLedger } from './ledger-session';

export const TOKEN_ISSUE_HELP = `token issue      --agreement <id> --key <base64 public key | key file> --package <name>
                   (--logins <L1,L2,...> | --config-hash <64 hex>) --until <ISO time | duration, e.g. 72h>
                   --reason <text> [--overdraft] [--out <file>] [--sign-key <file>] [--by <name>]
                   a support lock decided by the ledger (counts against the licenses; --overdraft may
                   exceed them), then a support token for that gateway written to --out (default
                   support-<agreement>-<hash>.token): run the gateway with --token-file <file>, or put it
                   in its state directory as token.sealed. Signed with the support key
                   (--sign-key or SUPPORT_SIGN_KEY_FILE), never the ingress's.`;

const NS_PER_MS = 1_000_000n;

/** `token issue` as given, checked, before anything is sent. */
export interface TokenIssueCommand {
  readonly agreementId: string;
  readonly key: string;
  readonly packageName: string;
  readonly configHash: string;
  readonly untilMs: number;
  readonly reason: string;
  readonly issuedBy: string;
  readonly overdraft: boolean;
  readonly out: string;
  readonly signKeyFile: string;
  readonly requestId: string | undefined;
  readonly timeoutMs: number;
}

function parse(argv: readonly string[], deps: CliDependencies, nowMs: number): TokenIssueCommand {
  let values: Partial<Record<'agreement' | 'key' | 'package' | 'logins' | 'config-hash' | 'until' | 'reason' | 'out' | 'sign-key' | 'by' | 'request-id' | 'timeout', string>> & { overdraft?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        agreement: { type: 'string' },
        key: { type: 'string' },
        package: { type: 'string' },
        logins: { type: 'string' },
        'config-hash': { type: 'string' },
        until: { type: 'string' },
        reason: { type: 'string' },
        overdraft: { type: 'boolean' },
        out: { type: 'string' },
        'sign-key': { type: 'string' },
        by: { type: 'string' },
        'request-id': { type: 'string' },
        timeout: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`token issue: ${error instanceof Error ? error.message : String(error)}`);
  }
  const required = (name: keyof typeof values & string): string => {
    const value = values[name];
    if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`token issue: --${name} is required`);
    return value;
  };
  const agreementId = required('agreement');
  const packageName = required('package');
  const reason = required('reason');
  if (reason.length > MAX_NOTE_LENGTH) throw new UsageError(`token issue: --reason is longer than ${MAX_NOTE_LENGTH} characters`);
  const signKeyFile = values['sign-key'] ?? deps.env['SUPPORT_SIGN_KEY_FILE'];
  if (!signKeyFile) throw new UsageError('token issue: --sign-key <file> (or SUPPORT_SIGN_KEY_FILE) names the support signing key');
  const hash = configHashOf(packageName, values.logins, values['config-hash']);
  const until = required('until');
  // A duration counts from now; otherwise an ISO time with a zone.
  const untilMs = /^\d+(ms|s|m|h|d)?$/.test(until.trim()) ? nowMs + parseDuration('until', until) : parseInstant('until', until);
  const issuedBy = values.by ?? `${userInfo().username}@${hostname()}`;
  return {
    agreementId,
    key: resolveGatewayKey(required('key'), deps.readFile ?? ((path) => readFileSync(path))),
    packageName,
    configHash: hash,
    untilMs,
    reason,
    issuedBy,
    overdraft: values.overdraft === true,
    out: values.out ?? `support-${agreementId}-${hash.slice(0, 12)}.token`,
    signKeyFile,
    requestId: values['request-id'],
    timeoutMs: values.timeout === undefined ? 30_000 : parseDuration('timeout', values.timeout),
  };
}

/** The config hash from the package and logins, with the function the gateway client uses; or as given. */
function configHashOf(packageName: string, logins: string | undefined, given: string | undefined): string {
  if ((logins === undefined) === (given === undefined)) throw new UsageError('token issue: give either --logins (the gateway computes the hash from them) or --config-hash');
  if (given !== undefined) {
    if (!isConfigHash(given)) throw new UsageError(`token issue: --config-hash must be 64 lower-case hex digits, got "${given}"`);
    return given;
  }
  // "--logins ''" is a gateway without accounts (a market-data gateway): the hash of the package alone.
  const list = (logins ?? '').split(',').map((login) => login.trim()).filter((login) => login !== '');
  try {
    return toHex(configHash(packageName, list));
  } catch (error) {
    throw new UsageError(`token issue: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The token the ingress would issue for this lock, but from support: its request id names it. */
export function supportAccessToken(command: TokenIssueCommand, tokenId: string, issuedMs: number, random: RandomBytes): AccessToken {
  const issuedTimeUtc = BigInt(issuedMs) * NS_PER_MS;
  const expiryTimeUtc = BigInt(command.untilMs) * NS_PER_MS;
  return {
    tokenId,
    agreementId: command.agreementId,
    gatewayPublicKey: fromBase64(command.key, '--key'),
    configHash: fromHex(command.configHash),
    packageName: command.packageName,
    issuedTimeUtc,
    expiryTimeUtc,
    // No request to echo: a fresh nonce, as every token has one.
    nonce: random(REQUEST_NONCE_BYTES),
    renewTimeUtc: issuedTimeUtc + (expiryTimeUtc - issuedTimeUtc) / 2n,
  };
}

/** Creates `path` (never overwriting) with mode 0600, or says why it cannot. */
function createTokenFile(path: string): number {
  try {
    const fd = openSync(path, 'wx', 0o600);
    fchmodSync(fd, 0o600);
    return fd;
  } catch (error) {
    throw new UsageError(`token issue: cannot create ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `ledger token issue ...`: 0 token written, 1 denied or failed, 2 usage or configuration error. */
export async function runToken(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === 'help' || action === '--help') {
    (action === undefined ? deps.io.err : deps.io.out)(`usage: ledger-cli ${TOKEN_ISSUE_HELP}`);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'issue') throw new UsageError(`unknown command "token ${action}"; expected token issue`);
  const now = deps.now ?? Date.now;
  const command = parse(rest, deps, now());
  checkLedgerConfig(deps);
  // Everything that could fail locally fails before the ledger records a lock: the key, and the file.
  let signingKey: SigningKey;
  try {
    signingKey = readSigningKeyFile(command.signKeyFile);
  } catch (error) {
    throw new UsageError(`token issue: cannot read the support signing key ${command.signKeyFile}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const fd = createTokenFile(command.out);
  let written = false;
  try {
    const requestId = command.requestId ?? `support-${randomUUID()}`;
    const issue: IssueSupportLock = {
      type: 'IssueSupportLock',
      data: {
        agreementId: command.agreementId,
        configHash: command.configHash,
        key: command.key,
        until: command.untilMs,
        reason: command.reason,
        issuedBy: command.issuedBy,
        overdraft: command.overdraft,
      },
      metadata: { requestId },
    };
    const outcome = await decideOnLedger(deps, issue, command.timeoutMs);
    const line = formatOutcome(`issue support lock "${command.agreementId}"`, requestId, outcome);
    if (outcome.kind !== 'granted') {
      deps.io.err(line);
      return 1;
    }
    const token = supportAccessToken(command, requestId, Math.min(now(), command.untilMs - 1), systemRandom);
    writeSync(fd, sealSupportToken({ token, signingKey, random: systemRandom }));
    written = true;
    deps.io.out(line);
    deps.io.out(`wrote support token ${requestId} to ${command.out}: key ${command.key}, config hash ${command.configHash}, package "${command.packageName}", valid until ${formatTime(command.untilMs)}, signed by support key ${signingKey.keyId}`);
    return 0;
  } finally {
    closeSync(fd);
    if (!written) removeQuietly(command.out);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Nothing to remove.
  }
}
