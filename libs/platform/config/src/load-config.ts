import { z } from 'zod';

/** Raised at boot when the environment does not satisfy a service's config schema. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates environment variables against a schema whose keys are the variable names, so every
 * error names the variable that is missing or bad.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  shape: Shape,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.infer<z.ZodObject<Shape>> {
  const schema = z.object(shape);
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    // An empty variable means "not set": docker-compose and shells often export empty strings.
    picked[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(picked);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        // The variable is the first path segment; deeper segments (list items) stay in the message.
        const name = issue.path.length > 0 ? String(issue.path[0]) : '(environment)';
        const given = picked[name];
        return given === undefined
          ? `${name} is required but not set (${issue.message})`
          : `${name}=${JSON.stringify(given)} is invalid: ${issue.message}`;
      }),
    );
  }
  return result.data;
}

/** Reusable variable parsers. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  /** Comma-separated host:port list. */
  brokers: () =>
    z
      .string()
      .transform((value) => value.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
      .pipe(
        z
          .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port[,host:port...]'))
          .min(1, 'expected at least one broker'),
      ),
  postgresUrl: () =>
    z
      .string()
      .refine((value) => /^postgres(ql)?:\/\/.+/.test(value), 'expected a postgresql:// URL'),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  instanceId: () => z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 of [A-Za-z0-9._-]'),
};
