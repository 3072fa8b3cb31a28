import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isGatewayKey, isKeyEvent, LeaseCommand } from '@license-ledger/lease-domain';
import { readUsageHistory } from '@license-ledger/metrics-usage-history';
import { LedgerClient, LedgerTimeoutError, LedgerTopics } from '@license-ledger/lease-ledger';
import { projectedEventCounts, projectionDifferences, readProjection } from '@license-ledger/lease-projection';
import { ConfigError, env, loadConfig } from '@license-ledger/platform-config';
import { createPrismaClient, PrismaClient } from '@license-ledger/platform-database';
import { KafkaJsMessageBus, MessageBus, Topics } from '@license-ledger/platform-kafka';
import { z } from 'zod';
import { CliCommand, parseArgs, UsageError, USAGE } from './args';
import {
  formatAgreementList,
  formatProblems,
  formatOutcome,
  formatState,
  formatTime,
  HISTORY_HEADER,
  historyRow,
  renderProgress,
  table,
} from './format';
import { AsOfFold, isEvent, LogEntry, LogProblem, LogVerifier, readLedgerLog, ReadProgress } from './ledger-log';
import { LOCK_RELEASE_HELP, runLock } from './lock';
import { runSnapshot, SNAPSHOT_STATUS_HELP } from './snapshot';
import { runToken, TOKEN_ISSUE_HELP } from './token';
import { chainSummaryLines, trustedLedgerKeys } from './verify-chain';
import { formatUsage, parseUsageArgs, USAGE_HISTORY_HELP } from './usage';

export interface CliIo {
  /** One line of the command's result (stdout). */
  out(line: string): void;
  /** One line of diagnostics (stderr). */
  err(line: string): void;
  /** Whether stderr is a terminal: the progress bar redraws in place only then. */
  readonly errIsTTY: boolean;
  /** Raw stderr text, for redrawing the progress bar. */
  errRaw(text: string): void;
}

export interface CliDependencies {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly io: CliIo;
  readonly createBus?: (brokers: readonly string[]) => MessageBus;
  readonly createPrisma?: (databaseUrl: string) => PrismaClient;
  readonly readFile?: (path: string) => Buffer;
  readonly now?: () => number;
}

const PROBLEMS_SHOWN = 20;
const silentBusLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

const ledgerConfig = {
  KAFKA_BROKERS: env.brokers(),
  LEASE_COMMANDS_TOPIC: z.string().min(1).default(Topics.leaseCommands.name),
  LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
  LEASE_REPLIES_TOPIC: z.string().min(1).default(Topics.leaseReplies.name),
  LEASE_GROUP_ID: z.string().min(1).default('license-ledger.lease'),
};
const databaseConfig = { DATABASE_URL: env.postgresUrl() };

type LedgerConfig = z.infer<z.ZodObject<typeof ledgerConfig>>;

/** A failure already explained to the user; only the exit code is left to give. */
class CliFailure extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/** Runs one command line; resolves with the exit code (0 ok, 1 failure or denial, 2 usage/config). */
export async function runCli(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const { io } = deps;
  if (argv[0] === 'usage') return runCaught(() => usageHistory(argv.slice(1), deps), deps);
  if (argv[0] === 'token') return runCaught(() => runToken(argv.slice(1), deps), deps);
  if (argv[0] === 'lock') return runCaught(() => runLock(argv.slice(1), deps), deps);
  if (argv[0] === 'snapshot') return runCaught(() => runSnapshot(argv.slice(1), deps), deps);
  let command: CliCommand;
  try {
    command = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`ledger-cli: ${error.message}`);
    io.err(USAGE);
    return 2;
  }
  return runCaught(() => run(command, deps), deps);
}

/** Runs a parsed command, turning its failures into messages and exit codes. */
async function runCaught(work: () => Promise<number>, deps: CliDependencies): Promise<number> {
  const { io } = deps;
  try {
    return await work();
  } catch (error) {
    if (error instanceof CliFailure) return error.exitCode;
    if (error instanceof ConfigError || error instanceof UsageError) {
      io.err(`ledger-cli: ${error.message}`);
      return 2;
    }
    if (error instanceof LedgerTimeoutError) {
      io.err(`ledger-cli: ${error.message}; is the lease service running?`);
      return 1;
    }
    io.err(`ledger-cli: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function run(command: CliCommand, deps: CliDependencies): Promise<number> {
  switch (command.kind) {
    case 'help':
      deps.io.out(USAGE);
      deps.io.out(`\nUsage history:\n  ${USAGE_HISTORY_HELP}`);
      deps.io.out(`\nSupport tokens and forced release (see README):\n  ${TOKEN_ISSUE_HELP}\n  ${LOCK_RELEASE_HELP}`);
      deps.io.out(`\nPartition snapshots:\n  ${SNAPSHOT_STATUS_HELP}`);
      return 0;
    case 'agreement-open':
    case 'agreement-change':
    case 'agreement-close':
    case 'key-bind':
    case 'key-revoke':
      return sendCommand(command, deps);
    case 'list':
      return list(deps);
    case 'replay':
      return replay(command, deps);
    case 'verify':
      return verify(command, deps);
    default: {
      const unknown: never = command;
      throw new Error(`unhandled command ${JSON.stringify(unknown)}`);
    }
  }
}

function topicsOf(config: LedgerConfig): LedgerTopics {
  return { commands: config.LEASE_COMMANDS_TOPIC, events: config.LEASE_EVENTS_TOPIC, replies: config.LEASE_REPLIES_TOPIC };
}

function busOf(config: LedgerConfig, deps: CliDependencies): MessageBus {
  return deps.createBus?.(config.KAFKA_BROKERS) ?? new KafkaJsMessageBus({ clientId: `ledger-cli-${hostname()}-${process.pid}`, brokers: config.KAFKA_BROKERS, logger: silentBusLogger });
}

async function withPrisma<T>(deps: CliDependencies, work: (prisma: PrismaClient) => Promise<T>): Promise<T> {
  const { DATABASE_URL } = loadConfig(databaseConfig, deps.env);
  const prisma = deps.createPrisma?.(DATABASE_URL) ?? createPrismaClient(DATABASE_URL, { poolSize: 2 });
  try {
    return await work(prisma);
  } finally {
    await prisma.$disconnect();
  }
}

/** A gateway public key as given (base64), or read from a key file (one base64 line, or the 32 raw bytes). */
export function resolveGatewayKey(value: string, readFile: (path: string) => Buffer): string {
  if (isGatewayKey(value)) return value;
  let contents: Buffer;
  try {
    contents = readFile(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`--key is neither a gateway public key (standard base64 of 32 bytes) nor a readable key file: ${reason}`);
  }
  if (contents.length === 32) return contents.toString('base64');
  const text = contents.toString('utf8').trim();
  if (isGatewayKey(text)) return text;
  throw new UsageError(`key file ${value} holds neither one line of standard base64 of 32 bytes nor the 32 raw bytes`);
}

function toLedgerCommand(command: Extract<CliCommand, { requestId: string | undefined }>, requestId: string, readFile: (path: string) => Buffer): LeaseCommand {
  const metadata = { requestId };
  switch (command.kind) {
    case 'agreement-open':
      return {
        type: 'OpenAgreement',
        data: { agreementId: command.id, name: command.name, licenses: command.licenses, bounds: command.bounds, ...(command.lingerMs === undefined ? {} : { lingerMs: command.lingerMs }) },
        metadata,
      };
    case 'agreement-change':
      return {
        type: 'ChangeAgreement',
        data: {
          agreementId: command.id,
          ...(command.name === undefined ? {} : { name: command.name }),
          ...(command.licenses === undefined ? {} : { licenses: command.licenses }),
          ...(Object.keys(command.bounds).length === 0 ? {} : { bounds: command.bounds }),
          ...(command.lingerMs === undefined ? {} : { lingerMs: command.lingerMs }),
        },
        metadata,
      };
    case 'agreement-close':
      return { type: 'CloseAgreement', data: { agreementId: command.id }, metadata };
    case 'key-bind':
      return { type: 'BindKey', data: { agreementId: command.agreementId, key: resolveGatewayKey(command.key, readFile) }, metadata };
    case 'key-revoke':
      return { type: 'RevokeKey', data: { agreementId: command.agreementId, key: resolveGatewayKey(command.key, readFile) }, metadata };
    default: {
      const unknown: never = command;
      throw new Error(`unhandled command ${JSON.stringify(unknown)}`);
    }
  }
}

const COMMAND_LABELS: Readonly<Record<LeaseCommand['type'], string>> = {
  OpenAgreement: 'open agreement',
  ChangeAgreement: 'change agreement',
  CloseAgreement: 'close agreement',
  BindKey: 'bind key',
  BindReservedKey: 'bind reserved key',
  RevokeKey: 'revoke key',
  AcquireLock: 'acquire lock',
  ReleaseLock: 'release lock',
  IssueSupportLock: 'issue support lock',
  ForceReleaseLock: 'force release lock',
  ExpireLocks: 'expire locks',
};

async function sendCommand(command: Extract<CliCommand, { requestId: string | undefined }>, deps: CliDependencies): Promise<number> {
  const requestId = command.requestId ?? `ops-${randomUUID()}`;
  const ledgerCommand = toLedgerCommand(command, requestId, deps.readFile ?? ((path) => readFileSync(path)));
  const config = loadConfig(ledgerConfig, deps.env);
  const bus = busOf(config, deps);
  const client = new LedgerClient({
    bus,
    topics: topicsOf(config),
    // Replies are keyed by instance id: unique per invocation, so two operators never share one.
    instanceId: `ledger-cli-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    groupPrefix: config.LEASE_GROUP_ID,
  });
  try {
    await client.start();
    const outcome = await client.send(ledgerCommand, command.timeoutMs);
    const line = formatOutcome(`${COMMAND_LABELS[ledgerCommand.type]} "${ledgerCommand.data.agreementId}"`, requestId, outcome);
    if (outcome.kind === 'denied') {
      deps.io.err(line);
      return 1;
    }
    deps.io.out(line);
    return 0;
  } finally {
    await client.stop().catch(() => undefined);
    await bus.close();
  }
}

/** `usage`: the metrics service's usage history, from its tables. Exit 1 when there is none. */
async function usageHistory(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const now = (deps.now ?? Date.now)();
  const command = parseUsageArgs(argv, now);
  const usage = await withPrisma(deps, (prisma) =>
    readUsageHistory(<Row>(sql: string, params: readonly unknown[]) => prisma.$queryRawUnsafe<Row[]>(sql, ...params), {
      agreement: command.agreementId,
      fromMs: command.fromMs,
      toMs: command.toMs,
      by: command.by,
      nowMs: now,
    }),
  );
  const none = usage.agreements.length === 0;
  for (const line of formatUsage(command, usage)) {
    if (none) deps.io.err(line);
    else deps.io.out(line);
  }
  return none ? 1 : 0;
}

async function list(deps: CliDependencies): Promise<number> {
  const now = (deps.now ?? Date.now)();
  const agreements = await withPrisma(deps, readProjection);
  for (const line of formatAgreementList(agreements, now)) deps.io.out(line);
  return 0;
}

/** Progress on stderr: redrawn in place on a terminal, and one summary line at the end in any case. */
class ProgressReporter {
  private lastDrawn = 0;
  private readonly started = Date.now();

  constructor(private readonly io: CliIo) {}

  update = (progress: ReadProgress): void => {
    if (!this.io.errIsTTY) return;
    const now = Date.now();
    if (now - this.lastDrawn < 100 && progress.read < progress.total) return;
    this.lastDrawn = now;
    this.io.errRaw(`\rreading the ledger ${renderProgress(progress.read, progress.total)}`);
  };

  finish(records: number, partitions: number): void {
    if (this.io.errIsTTY) this.io.errRaw('\r\u001b[2K');
    this.io.err(`read ${records} record(s) from ${partitions} partition(s) in ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
  }
}

async function readLog(deps: CliDependencies, sinceMs: number | undefined, onEntry: (entry: LogEntry) => void, onStart?: (partition: number, from: bigint) => void): Promise<void> {
  const config = loadConfig(ledgerConfig, deps.env);
  const bus = busOf(config, deps);
  const progress = new ProgressReporter(deps.io);
  try {
    const read = await readLedgerLog(bus, config.LEASE_EVENTS_TOPIC, { ...(sinceMs === undefined ? {} : { sinceMs }), ...(onStart ? { onStart } : {}), onProgress: progress.update }, onEntry);
    progress.finish(read.records, read.partitions);
  } finally {
    await bus.close();
  }
}

function reportBrokenLog(deps: CliDependencies, problems: readonly LogProblem[]): number {
  deps.io.err(`ledger-cli: broken log: ${problems.length} unreadable record(s):`);
  for (const line of formatProblems(problems, PROBLEMS_SHOWN)) deps.io.err(line);
  deps.io.err('run `ledger-cli verify` for the full check');
  return 1;
}

async function replay(command: Extract<CliCommand, { kind: 'replay' }>, deps: CliDependencies): Promise<number> {
  const asOfMs = command.asOfMs ?? (deps.now ?? Date.now)();
  const unreadable: LogProblem[] = [];
  const noteUnreadable = (entry: LogEntry): boolean => {
    if (!('malformed' in entry)) return false;
    unreadable.push({ partition: entry.partition, offset: entry.offset, message: entry.malformed });
    return true;
  };

  if (command.agreementId !== undefined) {
    const agreementId = command.agreementId;
    const history: LogEntry[] = [];
    const markers: LogEntry[] = [];
    await readLog(deps, command.fromMs, (entry) => {
      if (noteUnreadable(entry) || !('record' in entry)) return;
      const { record } = entry;
      if (record.type === 'PartitionClaimed') markers.push(entry);
      else if (isEvent(record) && record.data.agreementId === agreementId && record.metadata.at <= asOfMs && record.metadata.at >= (command.fromMs ?? -Infinity)) history.push(entry);
    });
    if (unreadable.length > 0) return reportBrokenLog(deps, unreadable);
    if (history.length === 0) {
      deps.io.err(`no events of agreement "${agreementId}"${command.fromMs === undefined ? '' : ` since ${formatTime(command.fromMs)}`} in the log`);
      return 1;
    }
    // Ownership changes of the agreement's partition while its history ran, for context.
    const own = history.filter((entry) => 'record' in entry && isEvent(entry.record) && !isKeyEvent(entry.record));
    const first = own[0];
    const last = own[own.length - 1];
    const owners = markers.filter((m) => first && last && m.partition === first.partition && m.offset > first.offset && m.offset < last.offset);
    // In time order: the agreement's events and its keys' reservations are on different partitions.
    const rows = [...history, ...owners].sort(byTimeThenPosition).map(historyRow);
    for (const line of table(HISTORY_HEADER, rows)) deps.io.out(line);
    deps.io.out(`${history.length} event(s) of agreement "${agreementId}"`);
    return 0;
  }

  const fold = new AsOfFold(asOfMs);
  await readLog(deps, command.fromMs, (entry) => {
    if (noteUnreadable(entry) || !('record' in entry)) return;
    if (isEvent(entry.record)) fold.apply(entry.record);
  });
  if (unreadable.length > 0) return reportBrokenLog(deps, unreadable);
  const note = command.fromMs === undefined ? undefined : `folded from events since ${formatTime(command.fromMs)} only: earlier history is missing`;
  for (const line of formatState(fold.agreements(), asOfMs, note)) deps.io.out(line);
  return 0;
}

function timeOf(entry: LogEntry): number {
  return 'record' in entry ? entry.record.metadata.at : entry.timestampMs;
}

function byTimeThenPosition(a: LogEntry, b: LogEntry): number {
  return timeOf(a) - timeOf(b) || a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0);
}

/** "; chain broken in partition 2 at offset 17, ..." : where each partition's chain first breaks. */
function firstBreaks(verifier: LogVerifier): string {
  const first = new Map<number, bigint>();
  for (const { partition, offset } of verifier.chains.problems) if (!first.has(partition)) first.set(partition, offset);
  if (first.size === 0) return '';
  return `; chain broken in ${[...first].sort(([a], [b]) => a - b).map(([partition, offset]) => `partition ${partition} at offset ${offset}`).join(', ')}`;
}

async function verify(command: Extract<CliCommand, { kind: 'verify' }>, deps: CliDependencies): Promise<number> {
  // Fail on a missing DATABASE_URL before reading a long log, not after.
  if (command.checkProjection) loadConfig(databaseConfig, deps.env);
  const trustedKeys = trustedLedgerKeys(command.ledgerKeyFile, deps.env);
  const verifier = new LogVerifier(trustedKeys);
  await readLog(deps, undefined, (entry) => verifier.observe(entry), verifier.begin);
  verifier.finish();
  const problems = [...verifier.problems];
  const projectionProblems: string[] = [];
  if (command.checkProjection) {
    await withPrisma(deps, async (prisma) => {
      const counts = await projectedEventCounts(prisma);
      const partitions = new Set([...counts.keys(), ...verifier.eventsPerPartition.keys()]);
      for (const partition of [...partitions].sort((a, b) => a - b)) {
        const inLog = verifier.eventsPerPartition.get(partition)?.count ?? 0;
        const projected = counts.get(partition)?.count ?? 0;
        if (inLog !== projected) projectionProblems.push(`partition ${partition}: ${projected} event(s) projected, ${inLog} in the log`);
      }
      projectionProblems.push(...projectionDifferences(verifier.fold.states.values(), await readProjection(prisma)));
    });
  }
  const events = [...verifier.eventsPerPartition.values()].reduce((sum, p) => sum + p.count, 0);
  if (problems.length === 0 && projectionProblems.length === 0) {
    deps.io.out(`verify OK: ${events} event(s), ${verifier.fold.agreements().length} agreement(s), chains intact, invariants hold${command.checkProjection ? ', projection matches the log' : ''}`);
    // Diagnostics, like the read summary: stdout keeps the one result line.
    for (const line of chainSummaryLines(verifier.chains.summaries(), trustedKeys.length > 0)) deps.io.err(line);
    return 0;
  }
  deps.io.err(`verify FAILED: ${problems.length} problem(s) in the log, ${projectionProblems.length} projection mismatch(es)${firstBreaks(verifier)}`);
  if (problems.length > 0) {
    deps.io.err('log:');
    for (const line of formatProblems(problems, PROBLEMS_SHOWN)) deps.io.err(line);
  }
  if (verifier.chains.problems.length > 0) for (const line of chainSummaryLines(verifier.chains.summaries(), trustedKeys.length > 0)) deps.io.err(line);
  if (projectionProblems.length > 0) {
    deps.io.err('projection (a busy ledger or a lagging projector also shows here; run again to tell):');
    for (const line of projectionProblems.slice(0, PROBLEMS_SHOWN)) deps.io.err(`  ${line}`);
    if (projectionProblems.length > PROBLEMS_SHOWN) deps.io.err(`  ... and ${projectionProblems.length - PROBLEMS_SHOWN} more`);
  }
  return 1;
}
