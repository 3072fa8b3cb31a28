/**
 * Prisma's schema engine (migrations) as WebAssembly, driven through @prisma/adapter-pg.
 *
 * The Prisma 7 CLI only runs the native schema-engine binary, which it downloads from a host this
 * project cannot reach. The same engine is published on npm as @prisma/schema-engine-wasm and
 * talks to PostgreSQL through a driver adapter, so migrations need no download at all.
 *
 * Work-arounds for @prisma/adapter-pg 7.10.1 on the migration path (see docs in migrate.ts):
 *  1. catalog queries return PostgreSQL's internal `"char"` type (OID 18), which the adapter cannot
 *     map: we relabel it and report those columns as Character to the engine;
 *  2./3. its shadow-database connect reuses the main database and leaks it: we implement
 *     `connectToShadowDb` ourselves with an injected provider;
 *  4. its `executeScript` splits on `;` (breaking `$$` bodies): we send the script as one query.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runInThisContext } from 'node:vm';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlResultSet,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { PoolClient } from 'pg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import { poolConfig, type PgTarget } from './pg-target';

export type {
  SchemaEngine,
  MigrationList,
  SchemaFilter,
  HistoryDiagnostic,
  DiagnoseMigrationHistoryOutput,
} from '@prisma/schema-engine-wasm';

type EngineGlue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');

const GLUE_SPECIFIER = '@prisma/schema-engine-wasm/schema_engine_bg';
const OID_CHAR = 18;
const OID_TEXT = 25;

/** The part of the WebAssembly JS API used here (the project's `lib` has no DOM/Wasm typings). */
interface WasmApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let loading: Promise<EngineGlue> | undefined;

/**
 * Loads and instantiates the Wasm module once per process.
 *
 * The package's entry does `import * as wasm from "./x.wasm"` (bundler style), which Node cannot
 * load, so we take its JS glue and instantiate the .wasm ourselves. Node's own `require`
 * (createRequire) is used rather than the caller's: it loads the ESM glue natively (Node ≥ 20.19)
 * and, under Jest, keeps one glue instance for all test files instead of one per module registry
 * (the glue caches views on the Wasm memory, so it must never be re-instantiated).
 */
export function loadSchemaEngineWasm(): Promise<EngineGlue> {
  loading ??= instantiate().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/**
 * Node's own require. Under Jest, `module.createRequire` is Jest's (module registry, no ESM), so
 * the real `node:module` is fetched through the main context's `process.getBuiltinModule`.
 */
function realNodeRequire(): NodeJS.Require {
  const mainProcess: unknown = runInThisContext('process');
  if (typeof mainProcess === 'object' && mainProcess !== null && 'getBuiltinModule' in mainProcess) {
    const getBuiltinModule: unknown = mainProcess.getBuiltinModule;
    if (typeof getBuiltinModule === 'function') {
      const builtin = (getBuiltinModule as (id: string) => unknown).call(mainProcess, 'node:module');
      // node:module's export is the Module class, i.e. a function.
      if ((typeof builtin === 'function' || typeof builtin === 'object') && builtin !== null && 'createRequire' in builtin) {
        return (builtin as { createRequire: typeof createRequire }).createRequire(__filename);
      }
    }
  }
  return createRequire(__filename);
}

async function instantiate(): Promise<EngineGlue> {
  const nodeRequire = realNodeRequire();
  const gluePath = nodeRequire.resolve(GLUE_SPECIFIER);
  const glue = nodeRequire(gluePath) as EngineGlue;
  if (isInstantiated(glue)) return glue;

  const imports: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(glue)) {
    if (typeof value === 'function') imports[name] = value;
  }
  // The engine arms 10 s timers it never clears; unref them so that they do not keep the process
  // (a CLI, a test worker, a service running deploy in-process) alive once the work is done.
  // Node's own setTimeout (not a Jest sandbox's, which fake timers could freeze).
  const nodeSetTimeout = runInThisContext('setTimeout') as typeof setTimeout;
  for (const name of Object.keys(imports)) {
    if (name.startsWith('__wbg_setTimeout_')) {
      imports[name] = (callback: () => void, ms: number) => nodeSetTimeout(callback, ms >>> 0).unref();
    }
  }
  // The glue tests values with `instanceof Promise/Uint8Array/ArrayBuffer/Map` of Node's main
  // realm. Under Jest our adapter lives in another realm (vm context), so its promises would fail
  // that test ("WASM_ERROR: Unknown error"). Brand checks give the same answer in every realm.
  for (const name of Object.keys(imports)) {
    const brand = /^__wbg_instanceof_([A-Za-z0-9]+)_[0-9a-f]+$/.exec(name)?.[1];
    if (brand === undefined) continue;
    const tag = `[object ${brand}]`;
    imports[name] = (value: unknown): boolean => {
      try {
        return Object.prototype.toString.call(value) === tag;
      } catch {
        return false;
      }
    };
  }
  installPanicRegistry();
  const bytes = await readFile(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'));
  // Async compile: never block the caller's event loop.
  const { instance } = await wasmApi.instantiate(bytes, { './schema_engine_bg.js': imports });
  if (isInstantiated(glue)) return glue; // another loader won the race
  glue.__wbg_set_wasm(instance.exports);
  const start = instance.exports['__wbindgen_start'];
  if (typeof start !== 'function') throw new Error('schema_engine_bg.wasm has no __wbindgen_start export');
  (start as () => void)();
  return glue;
}

/**
 * On a Rust panic the glue calls `global.PRISMA_WASM_PANIC_REGISTRY.set_message(msg)` before the
 * Wasm traps; without that object it dies with an unrelated TypeError. `global` there is Node's
 * real global object, which under Jest is not ours, hence runInThisContext to reach it.
 * After a panic the Wasm instance is unusable: the process should exit (the CLI does).
 */
function installPanicRegistry(): void {
  const nodeGlobal = runInThisContext('globalThis') as Record<string, unknown>;
  if (nodeGlobal['PRISMA_WASM_PANIC_REGISTRY'] !== undefined) return;
  nodeGlobal['PRISMA_WASM_PANIC_REGISTRY'] = {
    set_message: (message: string) => {
      lastPanic = message;
      process.stderr.write(`schema engine panicked: ${message}\n`);
    },
  };
}

let lastPanic: string | undefined;

/** The message of the last engine panic in this process, if any (the engine is unusable after it). */
export function lastSchemaEnginePanic(): string | undefined {
  return lastPanic;
}

function isInstantiated(glue: EngineGlue): boolean {
  try {
    glue.version();
    return true;
  } catch {
    return false;
  }
}

/** A database the engine may use as shadow (replays migrations there), released after use. */
export interface ShadowDatabase {
  target: PgTarget;
  release(): Promise<void>;
}
export type ShadowDatabaseProvider = () => Promise<ShadowDatabase>;

/**
 * The schema engine's connections: one pg connection per database, like the native engine
 * (its session-level advisory lock must stay on the connection that took it).
 */
const ENGINE_POOL_SIZE = 1;

class MigrationAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres' as const;
  readonly adapterName = '@prisma/adapter-pg';
  /** Adapters not yet disposed, so that closing the engine never leaks a pool or a shadow DB. */
  readonly open = new Set<SqlDriverAdapter>();

  constructor(
    private readonly target: PgTarget,
    private readonly shadow: ShadowDatabaseProvider | undefined,
  ) {}

  connect(): Promise<SqlDriverAdapter> {
    return this.connectPatched(this.target, undefined);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    if (!this.shadow) {
      throw new Error('This command has no shadow database (only `create`, `status` and `check` use one)');
    }
    const shadow = await this.shadow();
    try {
      return await this.connectPatched(shadow.target, shadow.release);
    } catch (error) {
      await shadow.release();
      throw error;
    }
  }

  async disposeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const adapter of [...this.open]) {
      await adapter.dispose().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) throw errors[0];
  }

  private async connectPatched(
    target: PgTarget,
    afterDispose: (() => Promise<void>) | undefined,
  ): Promise<SqlDriverAdapter> {
    const pgConfig = { ...poolConfig(target, ENGINE_POOL_SIZE), idleTimeoutMillis: 0 };
    const inner = await new PrismaPg(pgConfig).connect();
    inner.underlyingDriver().on('connect', patchClientQuery);
    let disposed = false;
    const adapter: SqlDriverAdapter = {
      provider: inner.provider,
      adapterName: inner.adapterName,
      queryRaw: async (query) => withCharColumns(await inner.queryRaw(query)),
      executeRaw: (query) => inner.executeRaw(query),
      startTransaction: (isolationLevel) => inner.startTransaction(isolationLevel),
      getConnectionInfo: () => inner.getConnectionInfo(),
      // Trap 4: one simple-protocol query (no parameters) runs a multi-statement script as a
      // whole, as the native engine does, and keeps the adapter's error mapping.
      executeScript: async (script) => {
        await inner.executeRaw({ sql: script, args: [], argTypes: [] });
      },
      // Trap 3: close our pool before the provider drops the shadow database.
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        this.open.delete(adapter);
        try {
          await inner.dispose();
        } finally {
          await afterDispose?.();
        }
      },
    };
    this.open.add(adapter);
    return adapter;
  }
}

/**
 * Trap 1: PostgreSQL's internal `"char"` type (OID 18, e.g. pg_constraint.contype) is unknown to
 * the adapter ("Column type 'char' could not be deserialized"). Relabelling it as text is not
 * enough: the engine reads such columns as a single character and panics on a Text value, which
 * shows on PostgreSQL ≥ 18 (the embedded server), where NOT NULL constraints are pg_constraint rows.
 * So each connection's results get OID 18 relabelled as text (pg has parsed it as a string
 * already), the affected column indexes are remembered against the rows array (which the adapter
 * returns as is), and queryRaw then reports those columns as Character.
 */
const charColumnsByRows = new WeakMap<object, number[]>();

function noteCharColumns(result: unknown): void {
  for (const one of Array.isArray(result) ? result : [result]) {
    if (typeof one !== 'object' || one === null || !('fields' in one) || !('rows' in one)) continue;
    const { fields, rows } = one;
    if (!Array.isArray(fields) || !Array.isArray(rows)) continue;
    const charColumns: number[] = [];
    fields.forEach((field: unknown, index: number) => {
      if (typeof field === 'object' && field !== null && 'dataTypeID' in field && field.dataTypeID === OID_CHAR) {
        (field as { dataTypeID: number }).dataTypeID = OID_TEXT;
        charColumns.push(index);
      }
    });
    if (charColumns.length > 0) charColumnsByRows.set(rows, charColumns);
  }
}

type AnyQuery = (...args: unknown[]) => unknown;

/** Wraps `client.query` (promise and callback forms; pg.Pool#query uses the callback form). */
function patchClientQuery(client: PoolClient): void {
  const original = client.query.bind(client) as AnyQuery;
  const patched: AnyQuery = (...args) => {
    const callback = args[args.length - 1];
    if (typeof callback === 'function') {
      args[args.length - 1] = (error: unknown, result: unknown): unknown => {
        if (!error) noteCharColumns(result);
        return (callback as (error: unknown, result: unknown) => unknown)(error, result);
      };
      return original(...args);
    }
    const returned = original(...args);
    if (typeof returned === 'object' && returned !== null && 'then' in returned && typeof returned.then === 'function') {
      return (returned as Promise<unknown>).then((result) => {
        noteCharColumns(result);
        return result;
      });
    }
    return returned;
  };
  (client as unknown as { query: AnyQuery }).query = patched;
}

function withCharColumns(resultSet: SqlResultSet): SqlResultSet {
  const charColumns = charColumnsByRows.get(resultSet.rows);
  if (charColumns) {
    for (const index of charColumns) resultSet.columnTypes[index] = ColumnTypeEnum.Character;
  }
  return resultSet;
}

export interface OpenEngineOptions {
  /** The database the engine works on. */
  target: PgTarget;
  /** Schema files ([path, content]) the engine is initialised with. */
  datamodels?: Array<[string, string]>;
  /** Needed by commands that replay migrations elsewhere (create, status drift check). */
  shadow?: ShadowDatabaseProvider;
  /** Receives the engine's log lines (JSON strings). */
  onLog?: (line: string) => void;
}

export interface OpenEngine {
  engine: SchemaEngine;
  /** Closes every connection the engine opened (dropping leftover shadow databases), frees it. */
  close(): Promise<void>;
}

export async function openSchemaEngine(options: OpenEngineOptions): Promise<OpenEngine> {
  const glue = await loadSchemaEngineWasm();
  const factory = new MigrationAdapterFactory(options.target, options.shadow);
  const onLog = options.onLog ?? (() => undefined);
  let engine: SchemaEngine;
  try {
    engine = await glue.SchemaEngine.new(
      { datamodels: options.datamodels },
      onLog,
      bindMigrationAwareSqlAdapterFactory(factory),
    );
  } catch (error) {
    await factory.disposeAll().catch(() => undefined);
    throw error;
  }
  let closed = false;
  return {
    engine,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await factory.disposeAll();
      } finally {
        engine.free();
      }
    },
  };
}
