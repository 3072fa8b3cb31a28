import pino from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * One JSON object per line on stdout, with the service name on every line so logs of several
 * services can be merged and filtered.
 */
export function createLogger(service: string, level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Never let a secret reach a log line, whatever a caller passes in.
      redact: { paths: ['*.secretKey', '*.password', 'secretKey', 'password', 'headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}
