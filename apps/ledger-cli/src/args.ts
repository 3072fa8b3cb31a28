import { parseArgs as parseNodeArgs } from 'node:util';
import type { LockPeriodBounds } from '@license-ledger/lease-domain';

/** A command line that cannot be run as given; printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: ledger-cli <command> [options]

Commands go through the lease ledger (never to the database); each prints its outcome.
  agreement open   --id <id> --name <name> --licenses <n> [--min <dur>] [--max <dur>] [--default <dur>] [--linger <dur>]
  agreement change --id <id> [--name <name>] [--licenses <n>] [--min <dur>] [--max <dur>] [--default <dur>] [--linger <dur|0>]
                   --linger: a released lock stays counted this long (default 0)
  agreement close  --id <id>
  key bind         --agreement <id> --key <base64 public key | key file>
  key revoke       --agreement <id> --key <base64 public key | key file>
    common: [--request-id <id>] (a retry with the same id gets the first outcome) [--timeout <dur>]

Reading:
  list             agreements, licenses, live locks and their holders (from the projection)
  replay           [--from <ISO time>] [--as-of <ISO time>] [--agreement <id>]
                   the state as of an instant (default: now), or one agreement's history
  verify           [--skip-projection] [--ledger-key <public key file>]
                   hash chains and signed checkpoints (docs/ledger-integrity.md), invariants over the
                   whole log, and projection = fold of the log; --ledger-key (or LEDGER_PUBLIC_KEY_FILE):
                   the ledger key's .pub file, so only checkpoints it signed count

Durations: milliseconds, or a number with ms, s, m, h or d (e.g. 5m, 2h, 7d).
Environment: KAFKA_BROKERS, DATABASE_URL (list, verify), LEASE_COMMANDS_TOPIC, LEASE_EVENTS_TOPIC,
LEASE_REPLIES_TOPIC, LEASE_GROUP_ID (as the lease service).
Exit codes: 0 ok, 1 denied / broken log / verify failed / error, 2 usage or configuration error.`;

export interface SendOptions {
  readonly requestId: string | undefined;
  readonly timeoutMs: number;
}

export type CliCommand =
  | { readonly kind: 'help' }
  | ({ readonly kind: 'agreement-open'; readonly id: string; readonly name: string; readonly licenses: number; readonly bounds: Partial<LockPeriodBounds>; readonly lingerMs?: number } & SendOptions)
  | ({ readonly kind: 'agreement-change'; readonly id: string; readonly name?: string; readonly licenses?: number; readonly bounds: Partial<LockPeriodBounds>; readonly lingerMs?: number } & SendOptions)
  | ({ readonly kind: 'agreement-close'; readonly id: string } & SendOptions)
  | ({ readonly kind: 'key-bind' | 'key-revoke'; readonly agreementId: string; readonly key: string } & SendOptions)
  | { readonly kind: 'list' }
  | { readonly kind: 'replay'; readonly fromMs?: number; readonly asOfMs?: number; readonly agreementId?: string }
  | { readonly kind: 'verify'; readonly checkProjection: boolean; readonly ledgerKeyFile?: string };

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90000", "90s", "5m", "2h", "7d" -> milliseconds. */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`--${option} expects a positive duration (e.g. 300000, 5m, 2h, 7d), got "${text}"`);
  return ms;
}

/** An ISO 8601 time with a date; a time without a zone is rejected rather than guessed. */
export function parseInstant(option: string, text: string): number {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) || /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = Date.parse(text);
  if (!hasZone || Number.isNaN(ms)) throw new UsageError(`--${option} expects an ISO time with a zone (e.g. 2026-03-01T12:00:00Z), got "${text}"`);
  return ms;
}

function parseCount(option: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--${option} expects a non-negative integer, got "${text}"`);
  return Number(text);
}

/**
 * Options as --name value pairs (or --name=value); flags listed in `flags` take no value. Node's
 * parseArgs splits the words (not strict, so each mistake is worded here, as the usage words it).
 */
function parseOptions(words: readonly string[], allowed: readonly string[], flags: readonly string[] = []): Map<string, string> {
  const declared: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const name of allowed) declared[name] = { type: 'string' };
  for (const name of flags) declared[name] = { type: 'boolean' };
  const { tokens } = parseNodeArgs({ args: [...words], options: declared, strict: false, allowPositionals: true, tokens: true });
  const options = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !token.rawName.startsWith('--')) throw new UsageError(`unexpected argument "${words[token.index] ?? ''}"`);
    const { name } = token;
    if (!allowed.includes(name) && !flags.includes(name)) {
      throw new UsageError(`unknown option --${name}; expected one of ${[...allowed, ...flags].map((o) => `--${o}`).join(', ') || '(none)'}`);
    }
    if (options.has(name)) throw new UsageError(`--${name} is given twice`);
    if (flags.includes(name)) {
      if (token.value !== undefined) throw new UsageError(`--${name} takes no value`);
      options.set(name, 'true');
      continue;
    }
    // parseArgs takes the next word as the value even when it is another option.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    options.set(name, token.value);
  }
  return options;
}

function required(options: Map<string, string>, name: string): string {
  const value = options.get(name);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

const SEND_OPTIONS = ['request-id', 'timeout'];
const BOUND_OPTIONS = ['min', 'max', 'default', 'linger'];

/** --linger: a duration, or 0 to free released locks at once. */
function lingerOf(options: Map<string, string>): { lingerMs?: number } {
  const value = options.get('linger');
  if (value === undefined) return {};
  return { lingerMs: value.trim() === '0' ? 0 : parseDuration('linger', value) };
}

function sendOptions(options: Map<string, string>): SendOptions {
  const timeout = options.get('timeout');
  return { requestId: options.get('request-id'), timeoutMs: timeout === undefined ? 30_000 : parseDuration('timeout', timeout) };
}

function boundsOf(options: Map<string, string>): Partial<LockPeriodBounds> {
  const bound = (option: string): number | undefined => {
    const value = options.get(option);
    return value === undefined ? undefined : parseDuration(option, value);
  };
  const bounds: { minMs?: number; maxMs?: number; defaultMs?: number } = {};
  const minMs = bound('min');
  const maxMs = bound('max');
  const defaultMs = bound('default');
  if (minMs !== undefined) bounds.minMs = minMs;
  if (maxMs !== undefined) bounds.maxMs = maxMs;
  if (defaultMs !== undefined) bounds.defaultMs = defaultMs;
  return bounds;
}

export function parseArgs(argv: readonly string[]): CliCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') return { kind: 'help' };
  if (first === 'agreement' || first === 'key') {
    const [action, ...words] = rest;
    if (first === 'agreement') {
      if (action === 'open') {
        const options = parseOptions(words, ['id', 'name', 'licenses', ...BOUND_OPTIONS, ...SEND_OPTIONS]);
        return {
          kind: 'agreement-open',
          id: required(options, 'id'),
          name: required(options, 'name'),
          licenses: parseCount('licenses', required(options, 'licenses')),
          bounds: boundsOf(options),
          ...lingerOf(options),
          ...sendOptions(options),
        };
      }
      if (action === 'change') {
        const options = parseOptions(words, ['id', 'name', 'licenses', ...BOUND_OPTIONS, ...SEND_OPTIONS]);
        const name = options.get('name');
        const licenses = options.get('licenses');
        const bounds = boundsOf(options);
        if (name === undefined && licenses === undefined && Object.keys(bounds).length === 0 && !options.has('linger')) {
          throw new UsageError('agreement change needs at least one of --name, --licenses, --min, --max, --default, --linger');
        }
        return {
          kind: 'agreement-change',
          id: required(options, 'id'),
          ...(name === undefined ? {} : { name }),
          ...(licenses === undefined ? {} : { licenses: parseCount('licenses', licenses) }),
          bounds,
          ...lingerOf(options),
          ...sendOptions(options),
        };
      }
      if (action === 'close') {
        const options = parseOptions(words, ['id', ...SEND_OPTIONS]);
        return { kind: 'agreement-close', id: required(options, 'id'), ...sendOptions(options) };
      }
      throw new UsageError(`unknown command "agreement ${action ?? ''}"; expected agreement open, change or close`);
    }
    if (action === 'bind' || action === 'revoke') {
      const options = parseOptions(words, ['agreement', 'key', ...SEND_OPTIONS]);
      return { kind: action === 'bind' ? 'key-bind' : 'key-revoke', agreementId: required(options, 'agreement'), key: required(options, 'key'), ...sendOptions(options) };
    }
    throw new UsageError(`unknown command "key ${action ?? ''}"; expected key bind or key revoke`);
  }
  if (first === 'list') {
    parseOptions(rest, []);
    return { kind: 'list' };
  }
  if (first === 'replay') {
    const options = parseOptions(rest, ['from', 'as-of', 'agreement']);
    const from = options.get('from');
    const asOf = options.get('as-of');
    const agreementId = options.get('agreement');
    const fromMs = from === undefined ? undefined : parseInstant('from', from);
    const asOfMs = asOf === undefined ? undefined : parseInstant('as-of', asOf);
    if (fromMs !== undefined && asOfMs !== undefined && asOfMs < fromMs) throw new UsageError('--as-of is before --from');
    return {
      kind: 'replay',
      ...(fromMs === undefined ? {} : { fromMs }),
      ...(asOfMs === undefined ? {} : { asOfMs }),
      ...(agreementId === undefined ? {} : { agreementId }),
    };
  }
  if (first === 'verify') {
    const options = parseOptions(rest, ['ledger-key'], ['skip-projection']);
    const ledgerKeyFile = options.get('ledger-key');
    return { kind: 'verify', checkProjection: !options.has('skip-projection'), ...(ledgerKeyFile === undefined ? {} : { ledgerKeyFile }) };
  }
  throw new UsageError(`unknown command "${first}"`);
}
