const signing = `Every /v1 request carries two headers:

- X-API-Key: your key id (from ops: tools/metrics/api-keys.ts create).
- X-API-Signature: base64 of the RSA-2048 PKCS#1 v1.5 signature over SHA-256 of the payload
  METHOD ":" path-with-query-exactly-as-sent, and for a request with a body ":" + its parameters sorted
  by key as key=value joined by "&" (null values left out). The API has only GET requests, so the
  payload is e.g. "GET:/v1/usage?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&group_by=day".

With openssl and curl:

    P='/v1/latency?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z'
    S=$(printf '%s' "GET:$P" | openssl dgst -sha256 -sign analyst.key | openssl base64 -A)
    curl -H "X-API-Key: $KEY_ID" -H "X-API-Signature: $S" "http://127.0.0.1:3002$P"

Errors (bodies byte for byte): missing X-API-Key -> 400 {"error":400,"message":"Api key header not provided"};
missing X-API-Signature -> 400 {"error":400,"message":"Signature header not provided"}; unknown or revoked
key, or a signature that does not verify -> 401 {"error":401,"message":"Unauthorized"}. Repeated failures
from one key or one address (10 within a minute) -> 429 {"error":429,"message":"Too many failed attempts"}
until the minute is over.`;

const rangeParameters = [
  { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'Start (inclusive), ISO 8601 with offset. Default: `to` minus 24 hours.' },
  { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'End (exclusive). Default: now.' },
  { name: 'agreement', in: 'query', schema: { type: 'string' }, description: 'Only this agreement id.' },
  { name: 'package', in: 'query', schema: { type: 'string' }, description: 'Only this package name.' },
  { name: 'api', in: 'query', schema: { type: 'string' }, description: 'Only this api.' },
];

const seriesParameters = [
  ...rangeParameters,
  { name: 'by', in: 'query', schema: { type: 'string', enum: ['hour', 'day'], default: 'hour' }, description: 'Bucket size (UTC hours or days).' },
];

const error = (status: number, message: string) => ({
  description: message,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' }, example: { error: status, message } } },
});
const authErrors = {
  400: error(400, 'Api key header not provided'),
  401: error(401, 'Unauthorized'),
  429: error(429, 'Too many failed attempts'),
};
const integer = { $ref: '#/components/schemas/Integer' };
const histogram = {
  type: 'object',
  properties: {
    count: integer,
    sum: { ...integer, description: 'Sum of the latencies as the gateways report it (ns).' },
    buckets: { type: 'array', items: { type: 'object', properties: { le_ns: { oneOf: [{ type: 'number' }, { type: 'string', enum: ['+Inf'] }] }, count: { ...integer, description: 'cumulative' } } } },
    p50: { $ref: '#/components/schemas/Quantile' },
    p90: { $ref: '#/components/schemas/Quantile' },
    p99: { $ref: '#/components/schemas/Quantile' },
  },
};

const quantiles = {
  type: 'object',
  properties: {
    count: { $ref: '#/components/schemas/Integer' },
    p50: { $ref: '#/components/schemas/Quantile' },
    p90: { $ref: '#/components/schemas/Quantile' },
    p99: { $ref: '#/components/schemas/Quantile' },
  },
};

/** The analysts' API as OpenAPI 3.1, served at GET /openapi.json. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'License Ledger metrics API',
    version: '1.0.0',
    description: `Usage and latency of the gateways, from the telemetry of every accepted license request, and concurrent locks per agreement, from the ledger's events. GET /dashboard (unauthenticated page) charts them; the page signs its calls with a key the analyst picks in the browser.\n\n## Signing requests\n\n${signing}`,
  },
  security: [{ ApiKey: [], ApiSignature: [] }],
  components: {
    securitySchemes: {
      ApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Key id.' },
      ApiSignature: { type: 'apiKey', in: 'header', name: 'X-API-Signature', description: signing },
    },
    schemas: {
      Error: { type: 'object', properties: { error: { type: 'integer' }, message: { type: 'string' } }, required: ['error', 'message'] },
      Integer: {
        description:
          'An exact integer: a JSON number while its magnitude is at most 2^53-1 (9007199254740991), which every JSON parser reads exactly; beyond that its decimal string, since a parser reading it as a double would round it. Sums of 64-bit counters, latencies and bucket counts can get there.',
        oneOf: [
          { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 },
          { type: 'string', pattern: '^-?[1-9][0-9]{15,}$' },
        ],
      },
      Quantile: {
        type: ['object', 'null'],
        description:
          'Estimated from the merged cumulative buckets: rank = q × count; the bucket whose cumulative count first reaches the rank holds the quantile, placed by linear interpolation between its lower bound (previous bound, 0 for the first) and upper bound. In the +Inf bucket: the last finite bound with overflow=true. Null without samples.',
        properties: { ns: { type: 'number' }, overflow: { type: 'boolean' } },
      },
    },
  },
  paths: {
    '/v1/usage': {
      get: {
        summary: 'Active gateways and sessions, order actions, please-report counts and features in use',
        description:
          'Over reports received in [from, to). Gateways: distinct (hostname, service name, instance); sessions: distinct session ids; order actions: sums of the counter deltas; please_report: reports with the flag set; features_in_use: sessions that reported the feature on.',
        parameters: [...rangeParameters, { name: 'group_by', in: 'query', schema: { type: 'string', enum: ['agreement', 'package', 'api', 'day'] }, description: 'Default: one group "all". Days are UTC.' }],
        responses: {
          200: {
            description: 'Usage per group. Every count and sum is an Integer (a string beyond 2^53-1).',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    groups: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          key: { type: 'string' },
                          active_gateways: integer,
                          active_sessions: integer,
                          reports: integer,
                          order_actions: { type: 'object', additionalProperties: integer },
                          please_report: { type: 'object', properties: { reports: integer, with_details: integer } },
                          features_in_use: { type: 'object', additionalProperties: integer },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    '/v1/latency': {
      get: {
        summary: 'Merged internal and external latency histograms with p50, p90, p99',
        description: 'Internal buckets: 500ns, 1us, 2us, 5us, 10us, 20us, +Inf. External: 10us, 100us, 1ms, 10ms, 100ms, 1s, +Inf. Bounds in nanoseconds.',
        parameters: rangeParameters,
        responses: {
          200: {
            description: 'Histograms',
            content: { 'application/json': { schema: { type: 'object', properties: { reports: integer, internal: histogram, external: histogram } } } },
          },
          ...authErrors,
        },
      },
    },
    '/v1/gateways': {
      get: {
        summary: 'Sessions seen in the range, with host facts and last-seen time',
        parameters: [...rangeParameters, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } }],
        responses: { 200: { description: 'Sessions, latest first', content: { 'application/json': { schema: { type: 'object' } } } }, ...authErrors },
      },
    },
    '/v1/usage/series': {
      get: {
        summary: 'Active gateways and sessions, reports and order actions per UTC hour or day',
        description:
          'Every bucket that overlaps [from, to) is answered, in order; buckets without reports hold zeros. Counted as /v1/usage counts (reports received in the bucket). Default range: the 24 hours up to now by hour, the 30 days up to now by day; at most 10,000 buckets.',
        parameters: [...seriesParameters],
        responses: {
          200: {
            description: 'One point per bucket',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    from: { type: 'string', format: 'date-time' },
                    to: { type: 'string', format: 'date-time' },
                    by: { type: 'string', enum: ['hour', 'day'] },
                    points: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          start: { type: 'string', format: 'date-time' },
                          active_gateways: integer,
                          active_sessions: integer,
                          reports: integer,
                          order_actions: { type: 'object', additionalProperties: integer },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    '/v1/latency/series': {
      get: {
        summary: 'Internal and external latency p50, p90, p99 per UTC hour or day',
        description:
          'From the hourly (by=hour) or daily (by=day) roll-ups of the reports: whole buckets overlapping [from, to), each with the merged histograms\' quantiles (as /v1/latency estimates them; null without samples). Default range and limit as /v1/usage/series.',
        parameters: [...seriesParameters],
        responses: {
          200: {
            description: 'One point per bucket',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    from: { type: 'string', format: 'date-time' },
                    to: { type: 'string', format: 'date-time' },
                    by: { type: 'string', enum: ['hour', 'day'] },
                    points: {
                      type: 'array',
                      items: { type: 'object', properties: { start: { type: 'string', format: 'date-time' }, reports: integer, internal: quantiles, external: quantiles } },
                    },
                  },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    '/v1/licenses/usage': {
      get: {
        summary: 'Concurrent locks per agreement over time, beside its licenses, and denied lock requests',
        description:
          'The usage history the metrics service folds from the lease events topic (its own consumer group). Per agreement and UTC bucket overlapping [from, to): peakLocks = most locks held at once (a lock counts while its expiry is later), licenses = most licenses the agreement had (0 once closed), denials = lock requests refused (AcquireLock denied for any reason). Hours after the last event folded count the locks still live at their start, up to now. Without `agreement`: every agreement opened before `to` that is open, had events in the range or had live locks in it. Default range: the 24 hours up to now by hour, 30 days by day; at most 10,000 buckets.',
        parameters: [
          { name: 'agreement', in: 'query', schema: { type: 'string' }, description: 'Only this agreement id (default: all).' },
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'Start (inclusive), ISO 8601 with offset.' },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'End (exclusive). Default: now.' },
          { name: 'by', in: 'query', schema: { type: 'string', enum: ['hour', 'day'], default: 'hour' }, description: 'Bucket size (UTC).' },
        ],
        responses: {
          200: {
            description: 'Buckets per agreement, agreements by id, buckets in time order',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['by', 'from', 'to', 'agreements'],
                  properties: {
                    by: { type: 'string', enum: ['hour', 'day'] },
                    from: { type: 'string', format: 'date-time' },
                    to: { type: 'string', format: 'date-time' },
                    agreements: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['agreement', 'buckets'],
                        properties: {
                          agreement: { type: 'string' },
                          buckets: {
                            type: 'array',
                            items: {
                              type: 'object',
                              required: ['start', 'peakLocks', 'licenses', 'denials'],
                              properties: { start: { type: 'string', format: 'date-time' }, peakLocks: { type: 'number' }, licenses: { type: 'number' }, denials: { type: 'number' } },
                            },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
  },
} as const;
