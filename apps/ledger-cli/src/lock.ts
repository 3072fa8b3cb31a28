import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { isConfigHash, MAX_NOTE_LENGTH, type ForceReleaseLock } from '@license-ledger/lease-domain';
import { parseDuration, UsageError } from './args';
import type { CliDependencies } from './cli';
import { formatOutcome } from './format';
import { checkLedgerConfig, decideOnLedger } from './ledger-session';

export const LOCK_RELEASE_HELP = `lock release     --agreement <id> --config-hash <64 hex> --reason <text> [--by <name>]
                   frees a lock at once (forced release, recorded); its gateways' next renewal is
                   refused with reason lock_released_by_operator and your reason; a restarted gateway
                   (a new session) may lock again`;

export interface LockReleaseCommand {
  readonly agreementId: string;
  readonly configHash: string;
  readonly reason: string;
  readonly releasedBy: string;
  readonly requestId: string | undefined;
  readonly timeoutMs: number;
}

export function parseLockRelease(argv: readonly string[]): LockReleaseCommand {
  let values: Partial<Record<'agreement' | 'config-hash' | 'reason' | 'by' | 'request-id' | 'timeout', string>>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        agreement: { type: 'string' },
        'config-hash': { type: 'string' },
        reason: { type: 'string' },
        by: { type: 'string' },
        'request-id': { type: 'string' },
        timeout: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`lock release: ${error instanceof Error ? error.message : String(error)}`);
  }
  const required = (name: keyof typeof values & string): string => {
    const value = values[name];
    if (value === undefined || value.trim() === '') throw new UsageError(`lock release: --${name} is required`);
    return value;
  };
  const configHash = required('config-hash');
  if (!isConfigHash(configHash)) throw new UsageError(`lock release: --config-hash must be 64 lower-case hex digits, got "${configHash}"`);
  const reason = required('reason');
  if (reason.length > MAX_NOTE_LENGTH) throw new UsageError(`lock release: --reason is longer than ${MAX_NOTE_LENGTH} characters`);
  return {
    agreementId: required('agreement'),
    configHash,
    reason,
    releasedBy: values.by ?? `${userInfo().username}@${hostname()}`,
    requestId: values['request-id'],
    timeoutMs: values.timeout === undefined ? 30_000 : parseDuration('timeout', values.timeout),
  };
}

/** `ledger lock release ...`: 0 released, 1 denied or failed, 2 usage or configuration error. */
export async function runLock(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === 'help' || action === '--help') {
    (action === undefined ? deps.io.err : deps.io.out)(`usage: ledger-cli ${LOCK_RELEASE_HELP}`);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'release') throw new UsageError(`unknown command "lock ${action}"; expected lock release`);
  const command = parseLockRelease(rest);
  checkLedgerConfig(deps);
  const requestId = command.requestId ?? `ops-${randomUUID()}`;
  const release: ForceReleaseLock = {
    type: 'ForceReleaseLock',
    data: { agreementId: command.agreementId, configHash: command.configHash, reason: command.reason, releasedBy: command.releasedBy },
    metadata: { requestId },
  };
  const outcome = await decideOnLedger(deps, release, command.timeoutMs);
  const line = formatOutcome(`force release lock "${command.agreementId}"`, requestId, outcome);
  if (outcome.kind === 'denied') {
    deps.io.err(line);
    return 1;
  }
  deps.io.out(line);
  return 0;
}
