/**
 * Reference gateway client of the License Ledger protocol: `gateway-client keygen` and `gateway-client run`.
 */
import { realEnvironment, runCli } from './cli';

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

runCli(process.argv.slice(2), realEnvironment(controller.signal)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
