/**
 * Database migrations for License Ledger without any engine download.
 *
 * The Prisma 7 CLI can generate the client offline but runs `migrate` only through a native
 * binary fetched from Prisma's host. This tool drives the same schema engine compiled to Wasm
 * (@prisma/schema-engine-wasm) over @prisma/adapter-pg, reading prisma/migrations in the CLI's
 * layout and recording applied migrations in the standard `_prisma_migrations` table, so its
 * results are interchangeable with `prisma migrate deploy`.
 *
 * CLI (DATABASE_URL from the environment, or --url):
 *   tsx tools/db/migrate.ts deploy            apply pending migrations (creates the database)
 *   tsx tools/db/migrate.ts create <name>     new migration from schema.prisma vs migrations
 *                              [--empty]      … or an empty one to write SQL by hand
 *   tsx tools/db/migrate.ts status            applied/pending; exit 1 on pending, failed,
 *                                             edited or unknown migrations, or schema drift
 *   tsx tools/db/migrate.ts check             exit 1 if schema.prisma has changes that no
 *                                             migration covers (DATABASE_URL optional)
 *   tsx tools/db/migrate.ts reset [--no-deploy]  wipe the database, then apply all migrations
 *   tsx tools/db/migrate.ts resolve --rolled-back <name> | --applied <name>
 * Exit codes: 0 ok, 1 failure or drift, 2 usage error.
 *
 * `create`/`status`/`check` need a shadow database (see shadow.ts); without DATABASE_URL they
 * use a throw-away embedded PostgreSQL server.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  dropDatabase,
  ensureDatabaseExists,
  errorCode,
  errorMessage,
  formatDatabaseUrl,
  maintenanceTarget,
  parseDatabaseUrl,
  redactUrl,
  withClient,
  type PgTarget,
} from './pg-target';
import { openSchemaEngine, type MigrationList, type OpenEngine, type SchemaFilter } from './schema-engine';
import { createShadowProvider } from './shadow';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_SCHEMA_PATH = path.join(REPO_ROOT, 'prisma', 'schema.prisma');
export const DEFAULT_MIGRATIONS_DIR = path.join(REPO_ROOT, 'prisma', 'migrations');

const LOCKFILE_NAME = 'migration_lock.toml';
const MIGRATION_FILE = 'migration.sql';
const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

export interface MigrateOptions {
  schemaPath?: string;
  migrationsDir?: string;
  /** Progress messages (default: none). The CLI prints them. */
  log?: (line: string) => void;
  /** Raw engine log lines (JSON), for debugging. */
  engineLog?: (line: string) => void;
}

/** An error meant for the user: its message is printed as is, the CLI exits with `exitCode`. */
export class MigrateError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'MigrateError';
  }
}

interface Resolved {
  schemaPath: string;
  migrationsDir: string;
  log: (line: string) => void;
  engineLog: ((line: string) => void) | undefined;
}

function resolveOptions(options: MigrateOptions): Resolved {
  return {
    schemaPath: path.resolve(options.schemaPath ?? DEFAULT_SCHEMA_PATH),
    migrationsDir: path.resolve(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR),
    log: options.log ?? (() => undefined),
    engineLog: options.engineLog,
  };
}

/** Reads prisma/migrations the way the Prisma CLI hands it to the engine. */
export async function readMigrations(migrationsDir: string): Promise<MigrationList> {
  const lockContent = await readFile(path.join(migrationsDir, LOCKFILE_NAME), 'utf8').catch(() => null);
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  });
  const directories = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b));
  return {
    baseDir: migrationsDir,
    lockfile: { path: LOCKFILE_NAME, content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      directories.map(async (name) => ({
        path: name,
        migrationFile: {
          path: MIGRATION_FILE,
          content: await readFile(path.join(migrationsDir, name, MIGRATION_FILE), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: unknown) => ({ tag: 'error' as const, value: errorMessage(error) }),
          ),
        },
      })),
    ),
  };
}

async function readSchema(schemaPath: string): Promise<{ path: string; content: string }> {
  try {
    return { path: schemaPath, content: await readFile(schemaPath, 'utf8') };
  } catch (error) {
    throw new MigrateError(`Cannot read the Prisma schema at ${schemaPath}: ${errorMessage(error)}`);
  }
}

/**
 * Engine errors carry a Rust span trace after the message ("   0: schema_engine_wasm::…");
 * keep the part a person needs.
 */
function engineErrorMessage(error: unknown): string {
  return errorMessage(error).split(/\n\s+0: /)[0]?.trim() ?? 'unknown schema engine error';
}

function requireUrl(databaseUrl: string | undefined): PgTarget {
  if (databaseUrl === undefined || databaseUrl.trim() === '') {
    throw new MigrateError(
      'DATABASE_URL is not set. Point it at PostgreSQL, e.g. postgresql://postgres@127.0.0.1:5432/license_ledger_dev, ' +
        'or start the embedded server: tsx tools/db/embedded-postgres.ts --port 5433 --data-dir .data/postgres',
      2,
    );
  }
  try {
    return parseDatabaseUrl(databaseUrl);
  } catch (error) {
    throw new MigrateError(errorMessage(error), 2);
  }
}

async function withEngine<T>(
  open: Parameters<typeof openSchemaEngine>[0],
  databaseUrl: string,
  fn: (handle: OpenEngine) => Promise<T>,
): Promise<T> {
  let handle: OpenEngine;
  try {
    handle = await openSchemaEngine(open);
  } catch (error) {
    throw new MigrateError(`Cannot open ${redactUrl(databaseUrl)}: ${engineErrorMessage(error)}`);
  }
  try {
    return await fn(handle);
  } catch (error) {
    if (error instanceof MigrateError) throw error;
    throw new MigrateError(engineErrorMessage(error));
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------- deploy

export interface DeployResult {
  /** Migrations applied by this call, in order (empty when already up to date). */
  applied: string[];
  /** Whether the database itself had to be created. */
  createdDatabase: boolean;
}

/**
 * Applies pending migrations to `databaseUrl`, creating the database first if needed. Idempotent
 * and safe to run from several processes at once (the engine takes an advisory lock).
 */
export async function migrateDeploy(databaseUrl: string, options: MigrateOptions = {}): Promise<DeployResult> {
  const o = resolveOptions(options);
  const target = requireUrl(databaseUrl);
  const createdDatabase = await ensureDatabaseExists(target).catch((error: unknown) => {
    throw new MigrateError(`Cannot reach or create ${redactUrl(databaseUrl)}: ${errorMessage(error)}`);
  });
  if (createdDatabase) o.log(`Created database "${target.database}".`);
  const migrationsList = await readMigrations(o.migrationsDir);
  if (migrationsList.migrationDirectories.length === 0) {
    o.log(`No migrations in ${path.relative(process.cwd(), o.migrationsDir) || o.migrationsDir}; nothing to apply.`);
  }
  return withEngine({ target, onLog: o.engineLog }, databaseUrl, async ({ engine }) => {
    const diagnosis = await engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: NO_FILTER,
    });
    for (const name of diagnosis.editedMigrationNames) {
      o.log(`Warning: migration ${name} was modified after it was applied.`);
    }
    const { appliedMigrationNames } = await engine
      .applyMigrations({ migrationsList, filters: NO_FILTER })
      .catch(async (error: unknown) => {
        throw new MigrateError(await describeApplyFailure(engine, migrationsList, error));
      });
    for (const name of appliedMigrationNames) o.log(`Applied ${name}`);
    o.log(
      appliedMigrationNames.length === 0
        ? 'Database schema is up to date.'
        : `${appliedMigrationNames.length} migration(s) applied.`,
    );
    return { applied: appliedMigrationNames, createdDatabase };
  });
}

/** Names the migration that failed (the engine's own message does not) and how to recover. */
async function describeApplyFailure(
  engine: OpenEngine['engine'],
  migrationsList: MigrationList,
  error: unknown,
): Promise<string> {
  const message = engineErrorMessage(error);
  const failed = await engine
    .diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTER })
    .then((d) => d.failedMigrationNames, () => []);
  if (failed.length === 0 || message.includes('failed migrations in the target database')) return message;
  return (
    `Migration ${failed.join(', ')} failed: ${message}\n` +
    'Its changes were rolled back (a migration runs as one transaction). Fix it, then run ' +
    '`resolve --rolled-back <name>` and deploy again (or `reset` a development database).'
  );
}

// ----------------------------------------------------------------------------------------- reset

export interface ResetOptions extends MigrateOptions {
  /** Apply all migrations after wiping (default true). */
  deploy?: boolean;
}

/**
 * Gives a brand-new database, then re-applies all migrations. On a real server the database is
 * dropped (disconnecting its sessions) and created again, so every schema, extension and setting
 * goes; without the rights to drop it,
 * the engine empties it instead (drops what the `public` schema holds, as `prisma migrate reset`).
 */
export async function migrateReset(databaseUrl: string, options: ResetOptions = {}): Promise<DeployResult> {
  const o = resolveOptions(options);
  const target = requireUrl(databaseUrl);
  let recreated = false;
  const existed = !(await ensureDatabaseExists(target).catch((error: unknown) => {
    throw new MigrateError(`Cannot reach or create ${redactUrl(databaseUrl)}: ${errorMessage(error)}`);
  }));
  if (existed) {
    try {
      await dropDatabase(target);
      await ensureDatabaseExists(target);
      recreated = true;
      o.log(`Database "${target.database}" dropped and created again.`);
    } catch (error) {
      // 42501 insufficient_privilege (not the owner / no CREATEDB): empty it in place instead.
      if (errorCode(error) !== '42501') {
        throw new MigrateError(`Cannot drop and re-create ${redactUrl(databaseUrl)}: ${errorMessage(error)}`);
      }
      await ensureDatabaseExists(target);
    }
  }
  const migrationsList = await readMigrations(o.migrationsDir);
  return withEngine({ target, onLog: o.engineLog }, databaseUrl, async ({ engine }) => {
    if (!recreated && existed) {
      await engine.reset({ filter: NO_FILTER });
      o.log(`Database "${target.database}" emptied.`);
    }
    if (options.deploy === false) return { applied: [], createdDatabase: !existed };
    const { appliedMigrationNames } = await engine
      .applyMigrations({ migrationsList, filters: NO_FILTER })
      .catch(async (error: unknown) => {
        throw new MigrateError(await describeApplyFailure(engine, migrationsList, error));
      });
    for (const name of appliedMigrationNames) o.log(`Applied ${name}`);
    return { applied: appliedMigrationNames, createdDatabase: !existed };
  });
}

// --------------------------------------------------------------------------------------- resolve

/**
 * Records the outcome of a migration by hand, as `prisma migrate resolve`: `rolled-back` for a
 * failed one (so that deploy retries it), `applied` for one whose changes were made manually.
 */
export async function migrateResolve(
  databaseUrl: string,
  migrationName: string,
  as: 'applied' | 'rolled-back',
  options: MigrateOptions = {},
): Promise<void> {
  const o = resolveOptions(options);
  const target = requireUrl(databaseUrl);
  const migrationsList = await readMigrations(o.migrationsDir);
  await withEngine({ target, onLog: o.engineLog }, databaseUrl, async ({ engine }) => {
    if (as === 'applied') {
      await engine.markMigrationApplied({ migrationName, migrationsList });
    } else {
      await engine.markMigrationRolledBack({ migrationName });
    }
  });
  o.log(`Marked ${migrationName} as ${as}.`);
}

// ---------------------------------------------------------------- databases for shadow-using commands

interface Workspace {
  target: PgTarget;
  url: string;
  close(): Promise<void>;
}

/** The main database for create/check: DATABASE_URL if given, else a throw-away embedded one. */
async function workspace(databaseUrl: string | undefined, o: Resolved): Promise<Workspace> {
  if (databaseUrl !== undefined && databaseUrl.trim() !== '') {
    const target = requireUrl(databaseUrl);
    await ensureDatabaseExists(target).catch((error: unknown) => {
      throw new MigrateError(`Cannot reach or create ${redactUrl(databaseUrl)}: ${errorMessage(error)}`);
    });
    return { target, url: databaseUrl, close: async () => undefined };
  }
  o.log('DATABASE_URL is not set: using a throw-away embedded PostgreSQL server.');
  const { startEmbeddedPostgres } = await import('./embedded-postgres'); // lazy: deploy-only callers skip it
  const embedded = await startEmbeddedPostgres({ database: 'scratch' });
  return {
    target: parseDatabaseUrl(embedded.url),
    url: embedded.url,
    close: () => embedded.stop(),
  };
}

async function withShadowEngine<T>(
  main: Workspace,
  o: Resolved,
  datamodels: Array<[string, string]> | undefined,
  fn: (handle: OpenEngine) => Promise<T>,
): Promise<T> {
  const shadow = createShadowProvider(main.target, o.log);
  try {
    return await withEngine(
      { target: main.target, datamodels, shadow: () => shadow.acquire(), onLog: o.engineLog },
      main.url,
      fn,
    );
  } finally {
    await shadow.close();
  }
}

const CONNECTOR_LOCKFILE = (provider: string): string =>
  `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${provider}"\n`;

// ---------------------------------------------------------------------------------------- create

export interface CreateOptions extends MigrateOptions {
  /** Main database (only read); default: DATABASE_URL unset → embedded. */
  databaseUrl?: string;
  /** Create the migration even when there is no schema change (for hand-written SQL). */
  empty?: boolean;
}

export interface CreateResult {
  /** `<timestamp>_<name>`, or undefined when schema.prisma has no change to migrate. */
  migrationName: string | undefined;
  /** Absolute path of the new migration.sql. */
  file: string | undefined;
  script: string | undefined;
}

/** Migration names become directory names: keep them lower_snake_case. */
export function normalizeMigrationName(name: string): string {
  const normalized = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  if (normalized === '') throw new MigrateError('The migration name must contain letters or digits.', 2);
  return normalized;
}

/**
 * Writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL that takes a database
 * from "all existing migrations applied" to schema.prisma. Does not apply it.
 *
 * Built on the engine's `diff` (migrations → schema), i.e. `prisma migrate diff --from-migrations
 * --to-schema`: the Wasm engine's own createMigration/evaluateDataLoss cannot reach a shadow
 * database once migrations exist ("PostgreSQL shadow DB must be provided through an external
 * factory"), while diff gets it from our adapter factory.
 */
export async function migrateCreate(name: string, options: CreateOptions = {}): Promise<CreateResult> {
  const o = resolveOptions(options);
  const migrationName = normalizeMigrationName(name);
  const schema = await readSchema(o.schemaPath);
  const main = await workspace(options.databaseUrl, o);
  try {
    return await withShadowEngine(main, o, [[schema.path, schema.content]], async ({ engine }) => {
      const migrationsList = await readMigrations(o.migrationsDir);
      let script = await schemaDriftSql(engine, migrationsList, schema);
      if (script === '') {
        if (options.empty !== true) {
          o.log('schema.prisma has no changes that need a migration; nothing created.');
          return { migrationName: undefined, file: undefined, script: undefined };
        }
        script = '-- This is an empty migration.';
      }
      script = `${script}\n`;
      const existing = migrationsList.migrationDirectories.map((d) => d.path);
      const generatedName = `${migrationTimestamp(existing)}_${migrationName}`;
      const dir = path.join(o.migrationsDir, generatedName);
      if (existsSync(dir)) throw new MigrateError(`The migration directory already exists: ${dir}`);
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, MIGRATION_FILE);
      await writeFile(file, script, 'utf8');
      await writeFile(path.join(o.migrationsDir, LOCKFILE_NAME), CONNECTOR_LOCKFILE('postgresql'), 'utf8');
      o.log(`Created ${path.relative(process.cwd(), file) || file}`);
      return { migrationName: generatedName, file, script };
    });
  } finally {
    await main.close();
  }
}

/**
 * Prisma's UTC `YYYYMMDDHHMMSS` prefix, kept strictly after the newest existing migration so the
 * new one always sorts last (even with a clock behind a teammate's).
 */
export function migrationTimestamp(existing: string[], now: Date = new Date()): string {
  const format = (date: Date): string => date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const newest = existing
    .map((name) => /^(\d{14})_/.exec(name)?.[1])
    .filter((stamp): stamp is string => stamp !== undefined)
    .sort()
    .at(-1);
  if (newest === undefined || format(now) > newest) return format(now);
  const parsed = new Date(
    Date.UTC(
      Number(newest.slice(0, 4)),
      Number(newest.slice(4, 6)) - 1,
      Number(newest.slice(6, 8)),
      Number(newest.slice(8, 10)),
      Number(newest.slice(10, 12)),
      Number(newest.slice(12, 14)) + 1,
    ),
  );
  return format(parsed);
}

// ----------------------------------------------------------------------------------- check/status

/** SQL that schema.prisma needs beyond what the migrations produce ('' when in sync). */
async function schemaDriftSql(
  engine: OpenEngine['engine'],
  migrationsList: MigrationList,
  schema: { path: string; content: string },
): Promise<string> {
  // Always diff from the (possibly empty) migration history replayed on a shadow database rather
  // than from `empty`: the latter adds a `CREATE SCHEMA "public"` that Prisma migrations never have.
  const from: MigrationList = {
    ...migrationsList,
    lockfile: { ...migrationsList.lockfile, content: migrationsList.lockfile.content ?? CONNECTOR_LOCKFILE('postgresql') },
  };
  const result = await engine.diff({
    from: { tag: 'migrations', ...from },
    to: { tag: 'schemaDatamodel', files: [schema] },
    script: true,
    exitCode: true,
    filters: NO_FILTER,
  });
  // exitCode 2 = non-empty diff (with exitCode: true), as `prisma migrate diff --exit-code`.
  return result.exitCode === 2 ? (result.stdout ?? '').trim() : '';
}

export interface CheckResult {
  /** SQL that a new migration would contain; '' when the migrations cover schema.prisma. */
  driftSql: string;
}

/** Whether schema.prisma and prisma/migrations agree (no database state involved). */
export async function migrateCheck(options: CreateOptions = {}): Promise<CheckResult> {
  const o = resolveOptions(options);
  const schema = await readSchema(o.schemaPath);
  const main = await workspace(options.databaseUrl, o);
  try {
    return await withShadowEngine(main, o, [[schema.path, schema.content]], async ({ engine }) => {
      const migrationsList = await readMigrations(o.migrationsDir);
      return { driftSql: await schemaDriftSql(engine, migrationsList, schema) };
    });
  } finally {
    await main.close();
  }
}

export interface AppliedMigration {
  name: string;
  finishedAt: Date | null;
  rolledBackAt: Date | null;
}

export interface MigrationStatus {
  databaseExists: boolean;
  /** Migration directories on disk, in order. */
  local: string[];
  /** Rows of _prisma_migrations, in start order. */
  applied: AppliedMigration[];
  /** On disk, not yet applied. */
  pending: string[];
  /** Applied in the database but missing on disk. */
  unknown: string[];
  failed: string[];
  /** Applied, then modified on disk (checksum mismatch). */
  edited: string[];
  /** SQL that schema.prisma needs beyond the migrations ('' = none). */
  schemaDriftSql: string;
  /** Why the drift check could not run (e.g. a migration that fails to apply). */
  schemaCheckError?: string;
  /** Nothing pending, failed, edited or unknown, and no schema drift. */
  upToDate: boolean;
}

/** Compares the database, prisma/migrations and schema.prisma. Read-only on the database. */
export async function migrateStatus(databaseUrl: string, options: MigrateOptions = {}): Promise<MigrationStatus> {
  const o = resolveOptions(options);
  const target = requireUrl(databaseUrl);
  const schema = await readSchema(o.schemaPath);
  const migrationsList = await readMigrations(o.migrationsDir);
  const local = migrationsList.migrationDirectories.map((d) => d.path);

  let databaseExists = true;
  try {
    await withClient(target, (client) => client.query('SELECT 1'));
  } catch (error) {
    if (errorCode(error) !== '3D000') {
      throw new MigrateError(`Cannot reach ${redactUrl(databaseUrl)}: ${errorMessage(error)}`);
    }
    databaseExists = false;
  }
  if (!databaseExists) {
    // The drift check only needs the server (for shadow databases): use its maintenance database.
    const drift = await migrateCheck({ ...options, databaseUrl: formatDatabaseUrl(maintenanceTarget(target)) });
    return {
      databaseExists,
      local,
      applied: [],
      pending: local,
      unknown: [],
      failed: [],
      edited: [],
      schemaDriftSql: drift.driftSql,
      upToDate: false,
    };
  }

  const main: Workspace = {
    target,
    url: databaseUrl,
    close: async () => undefined,
  };
  const applied = await readAppliedMigrations(target);
  return withShadowEngine(main, o, [[schema.path, schema.content]], async ({ engine }) => {
    const diagnosis = await engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: NO_FILTER,
    });
    const history = diagnosis.history;
    const pending =
      history === null
        ? []
        : history.diagnostic === 'migrationsDirectoryIsBehind'
          ? []
          : history.unappliedMigrationNames;
    const unknown = history === null || history.diagnostic === 'databaseIsBehind' ? [] : history.unpersistedMigrationNames;
    // A migration that does not apply (e.g. a failed one) makes the drift check impossible;
    // report that instead of failing the whole status.
    let driftSql: string;
    let schemaCheckError: string | undefined;
    try {
      driftSql = await schemaDriftSql(engine, migrationsList, schema);
    } catch (error) {
      driftSql = '';
      schemaCheckError = engineErrorMessage(error);
    }
    const failed = diagnosis.failedMigrationNames;
    const edited = diagnosis.editedMigrationNames;
    return {
      databaseExists,
      local,
      applied,
      pending,
      unknown,
      failed,
      edited,
      schemaDriftSql: driftSql,
      ...(schemaCheckError !== undefined ? { schemaCheckError } : {}),
      upToDate:
        pending.length === 0 &&
        unknown.length === 0 &&
        failed.length === 0 &&
        edited.length === 0 &&
        driftSql === '' &&
        schemaCheckError === undefined,
    };
  });
}

async function readAppliedMigrations(target: PgTarget): Promise<AppliedMigration[]> {
  return withClient(target, async (client) => {
    const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('public._prisma_migrations')::text AS t`);
    if (exists.rows[0]?.t == null) return [];
    const result = await client.query<{ name: string; finished_at: Date | null; rolled_back_at: Date | null }>(
      'SELECT migration_name AS name, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at, migration_name',
    );
    return result.rows.map((row) => ({ name: row.name, finishedAt: row.finished_at, rolledBackAt: row.rolled_back_at }));
  });
}

function printStatus(status: MigrationStatus, out: (line: string) => void): void {
  if (!status.databaseExists) out('The database does not exist yet.');
  out(`${status.local.length} migration(s) in prisma/migrations.`);
  for (const row of status.applied) {
    const state = row.rolledBackAt ? 'rolled back' : row.finishedAt ? 'applied' : 'FAILED';
    out(`  ${state.padEnd(11)} ${row.name}`);
  }
  for (const name of status.pending) out(`  ${'pending'.padEnd(11)} ${name}`);
  if (status.unknown.length > 0) out(`Applied but missing from prisma/migrations: ${status.unknown.join(', ')}`);
  if (status.failed.length > 0) out(`Failed migrations: ${status.failed.join(', ')}`);
  if (status.edited.length > 0) out(`Modified after being applied: ${status.edited.join(', ')}`);
  if (status.schemaCheckError !== undefined) out(`Could not compare schema.prisma with the migrations: ${status.schemaCheckError}`);
  if (status.schemaDriftSql !== '') {
    out('schema.prisma has changes no migration covers (run `create <name>`):');
    out(status.schemaDriftSql);
  }
  out(status.upToDate ? 'Database schema is up to date.' : 'Database is NOT up to date.');
}

// ------------------------------------------------------------------------------------------- CLI

const USAGE = `Usage: tsx tools/db/migrate.ts <command> [options]
  deploy                 apply pending migrations to DATABASE_URL (creates the database)
  create <name> [--empty] create prisma/migrations/<timestamp>_<name> from schema.prisma
  status                 list applied/pending; exit 1 unless fully up to date
  check                  exit 1 if schema.prisma has changes without a migration
  reset [--no-deploy]    wipe DATABASE_URL, then apply all migrations
  resolve --rolled-back <name> | --applied <name>
                         record a failed migration as rolled back, or a manual one as applied
Options: --url <postgresql://…> (default: $DATABASE_URL), --schema <file>, --migrations <dir>, --verbose`;

interface CliArgs {
  command: string | undefined;
  positional: string[];
  flags: Set<string>;
  values: Map<string, string>;
}

const VALUE_OPTIONS = ['url', 'schema', 'migrations', 'rolled-back', 'applied'];

/** Splits the words with Node's parseArgs; unknown flags are kept for runCli to name with the usage. */
function parseCliArgs(argv: string[]): CliArgs {
  const args: CliArgs = { command: undefined, positional: [], flags: new Set(), values: new Map() };
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const name of VALUE_OPTIONS) options[name] = { type: 'string' };
  for (const name of ['empty', 'no-deploy', 'verbose', 'help']) options[name] = { type: 'boolean' };
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (args.command === undefined) args.command = token.value;
      else args.positional.push(token.value);
      continue;
    }
    const flag = token.rawName.startsWith('--') ? `--${token.name}` : token.rawName;
    if (VALUE_OPTIONS.includes(token.name)) {
      // parseArgs takes the next word as the value even when it is another option.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw new MigrateError(`${flag} needs a value`, 2);
      args.values.set(flag, token.value);
    } else {
      if (token.value !== undefined) throw new MigrateError(`${flag} takes no value\n${USAGE}`, 2);
      args.flags.add(flag);
    }
  }
  return args;
}

async function runCli(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  const known = new Set(['--empty', '--no-deploy', '--verbose', '--help']);
  for (const flag of args.flags) {
    if (!known.has(flag)) throw new MigrateError(`Unknown option ${flag}\n${USAGE}`, 2);
  }
  if (args.flags.has('--help') || args.command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return args.command === undefined && !args.flags.has('--help') ? 2 : 0;
  }
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const options: MigrateOptions = {
    log: out,
    ...(args.values.has('--schema') ? { schemaPath: args.values.get('--schema') } : {}),
    ...(args.values.has('--migrations') ? { migrationsDir: args.values.get('--migrations') } : {}),
    ...(args.flags.has('--verbose') ? { engineLog: (line: string) => process.stderr.write(`${line}\n`) } : {}),
  };
  const url = args.values.get('--url') ?? process.env['DATABASE_URL'];
  const started = Date.now();
  const done = (code: number): number => {
    if (args.flags.has('--verbose')) process.stderr.write(`(${args.command} took ${Date.now() - started} ms)\n`);
    return code;
  };

  switch (args.command) {
    case 'deploy':
      await migrateDeploy(url ?? '', options);
      return done(0);
    case 'reset':
      await migrateReset(url ?? '', { ...options, deploy: !args.flags.has('--no-deploy') });
      return done(0);
    case 'create': {
      const name = args.positional[0];
      if (name === undefined) throw new MigrateError(`create needs a migration name\n${USAGE}`, 2);
      await migrateCreate(name, { ...options, empty: args.flags.has('--empty'), ...(url ? { databaseUrl: url } : {}) });
      return done(0);
    }
    case 'check': {
      const { driftSql } = await migrateCheck({ ...options, ...(url ? { databaseUrl: url } : {}) });
      if (driftSql === '') {
        out('schema.prisma and prisma/migrations are in sync.');
        return done(0);
      }
      out('schema.prisma has changes no migration covers (run `create <name>`):');
      out(driftSql);
      return done(1);
    }
    case 'resolve': {
      const rolledBack = args.values.get('--rolled-back');
      const applied = args.values.get('--applied');
      if ((rolledBack === undefined) === (applied === undefined)) {
        throw new MigrateError(`resolve needs exactly one of --rolled-back <name> or --applied <name>\n${USAGE}`, 2);
      }
      if (rolledBack !== undefined) await migrateResolve(url ?? '', rolledBack, 'rolled-back', options);
      if (applied !== undefined) await migrateResolve(url ?? '', applied, 'applied', options);
      return done(0);
    }
    case 'status': {
      const status = await migrateStatus(url ?? '', options);
      printStatus(status, out);
      return done(status.upToDate ? 0 : 1);
    }
    default:
      throw new MigrateError(`Unknown command ${args.command}\n${USAGE}`, 2);
  }
}

if (require.main === module) {
  // Exit explicitly: the engine and pg pools may leave timers/sockets that would delay exit.
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`migrate: ${error instanceof MigrateError ? error.message : engineErrorMessage(error)}\n`);
      if (!(error instanceof MigrateError) && process.argv.includes('--verbose')) {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? '') : String(error)}\n`);
      }
      process.exit(error instanceof MigrateError ? error.exitCode : 1);
    },
  );
}
