/** Overrides of a sample record; cumulative values may be given as numbers. */
export type SampleOverrides = Readonly<Record<string, unknown>>;

/**
 * A valid telemetry record in the ingress' format (for tests and benchmarks): every field present,
 * counters and buckets zero unless overridden. Numbers given for 64-bit fields are turned into
 * decimal strings as the ingress writes them.
 */
export function sampleTelemetryRecord(overrides: SampleOverrides = {}): Record<string, unknown> {
  const record: Record<string, unknown> = {
    schema: 'license-ledger/telemetry/v1',
    agreement_id: 'acme',
    key_fingerprint: 'fp-0001',
    received_time_utc: '1795000000000000000',
    decision: 'granted',
    ingress_instance: 'ingress-1',
    request_time_utc: '1795000000000000000',
    token_expiry_time_utc: '1795007200000000000',
    nonce: '00112233445566778899aabbccddeeff',
    package_name: 'fix-gateway',
    package_version: '3.14.2',
    package_build_number: '4711',
    package_build_host: 'build-07',
    hostname: 'gw-1',
    network_hostname: 'gw-1.example',
    machine_id: '0123456789abcdef0123456789abcdef',
    machine: 'x86_64',
    cpuid: [13, 1970169159, 1818588270, 1231384169, 591600, 34605056, 2147154879, 3219913727],
    cpu_vendor: 'GenuineIntel',
    cpu_brand: 'Intel(R) Xeon(R)',
    number_of_processors: '16',
    cache_line_size: '64',
    page_size: '4096',
    kernel_name: 'Linux',
    kernel_release: '6.8.0',
    kernel_version: '#1 SMP',
    system_uptime: '86400',
    system_total_memory: '68719476736',
    system_available_memory: '34359738368',
    system_total_swap: '0',
    system_available_swap: '0',
    process_id: '4242',
    process_start_time_utc: '1794990000000000000',
    process_max_rss: '104857600',
    service_name: 'fix-gateway@xeta',
    api_name: 'FIX 4.4',
    api: 'fix44',
    instance: 'prod-a',
    session_id: 'session-1',
    is_uat: false,
    cpu_affinity: [2, 3],
    symbols: '120',
    total_symbols: '5000',
    config_hash: 'ab'.repeat(32),
    accounts: '2',
    users: '3',
    create_order: '0',
    modify_order: '0',
    cancel_order: '0',
    cancel_all_orders: '0',
    mass_quote: '0',
    cancel_quotes: '0',
    please_report: false,
    please_report_details: false,
    download_trades: true,
    download_orders: false,
    event_log: true,
    position_manager: false,
    risk_manager: true,
    journal: false,
    udp_publish: false,
    internal_latency_sum: '0',
    internal_latency_count_500ns: '0',
    internal_latency_count_1us: '0',
    internal_latency_count_2us: '0',
    internal_latency_count_5us: '0',
    internal_latency_count_10us: '0',
    internal_latency_count_20us: '0',
    internal_latency_count_inf: '0',
    external_latency_sum: '0',
    external_latency_count_10us: '0',
    external_latency_count_100us: '0',
    external_latency_count_1ms: '0',
    external_latency_count_10ms: '0',
    external_latency_count_100ms: '0',
    external_latency_count_1s: '0',
    external_latency_count_inf: '0',
  };
  for (const [key, value] of Object.entries(overrides)) {
    record[key] = typeof value === 'number' && typeof record[key] === 'string' ? String(value) : value;
  }
  return record;
}

/** Cumulative bucket values for a histogram given per-bucket (non-cumulative) sample counts. */
export function cumulativeBuckets(prefix: 'internal' | 'external', perBucket: readonly number[], sum = 0): Record<string, string> {
  const names = prefix === 'internal' ? ['500ns', '1us', '2us', '5us', '10us', '20us', 'inf'] : ['10us', '100us', '1ms', '10ms', '100ms', '1s', 'inf'];
  const out: Record<string, string> = { [`${prefix}_latency_sum`]: String(sum) };
  let running = 0;
  names.forEach((name, i) => {
    running += perBucket[i] ?? 0;
    out[`${prefix}_latency_count_${name}`] = String(running);
  });
  return out;
}
