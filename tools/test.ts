/**
 * `npm test`: unit and integration tests against a real Kafka broker and a real PostgreSQL.
 * Uses KAFKA_BROKERS / DATABASE_URL when set, otherwise starts a throw-away local broker and a
 * throw-away embedded PostgreSQL on ports apart from `npm start`'s. Arguments go to Jest.
 * Everything it started is stopped, whatever the outcome; the exit code is Jest's.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bringUpEnvironment, Environment, onShutdownSignal, portFromEnv } from './environment';

const workspaceRoot = join(__dirname, '..');
const say = (line: string): void => {
  process.stdout.write(`[test] ${line}\n`);
};

/** Jest's JSON results of the last run, for CI's summary line (`N passed, N failed`). */
const resultsFile = join(workspaceRoot, 'tmp', 'test-results.json');

function runJest(args: readonly string[], environment: Environment): Promise<number> {
  mkdirSync(dirname(resultsFile), { recursive: true });
  rmSync(resultsFile, { force: true });
  const ci = process.env['CI'] === 'true' ? ['--ci'] : [];
  const jestArgs = [require.resolve('jest/bin/jest'), ...ci, '--json', `--outputFile=${resultsFile}`, ...args];
  const jest = spawn(process.execPath, jestArgs, {
    cwd: workspaceRoot,
    stdio: 'inherit',
    env: {
      ...process.env,
      KAFKA_BROKERS: environment.kafkaBrokers.join(','),
      DATABASE_URL: environment.databaseUrl,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    },
  });
  return new Promise((resolve) => jest.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<number> {
  let environment: Environment | undefined;
  // The local broker's data directory is a throw-away one that stopping it removes.
  const cleanUp = async (): Promise<void> => {
    await environment?.stop();
  };
  onShutdownSignal(async () => {
    await cleanUp();
    return 130;
  });
  try {
    const started = Date.now();
    environment = await bringUpEnvironment({
      kafkaPort: portFromEnv('TEST_KAFKA_PORT', 19092),
      kafkaControllerPort: portFromEnv('TEST_KAFKA_CONTROLLER_PORT', 19093),
      postgresPort: portFromEnv('TEST_POSTGRES_PORT', 15433),
      log: say,
    });
    say(`environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return await runJest(process.argv.slice(2), environment);
  } catch (error) {
    say(`could not prepare the test environment: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    return 1;
  } finally {
    await cleanUp();
  }
}

main().then((code) => process.exit(code));
