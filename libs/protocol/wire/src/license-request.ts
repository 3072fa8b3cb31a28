import * as flatbuffers from 'flatbuffers';
import { copyBytes, int64, readUint32s, requireLength, requireNonEmpty, uint32s, uint64, utf8 } from './codec';
import * as fb from './generated/license_generated';
import { requireStorableText } from './text';
import { type FieldKind, verifyTable } from './verify';

export const REQUEST_NONCE_BYTES = 16;
export const CONFIG_HASH_BYTES = 32;

// Field list of LicenseRequest in slot order, as in schema/license.fbs (a test checks they agree).
export const licenseRequestFields = [
  ['request_time_utc', 'i64'],
  ['token_expiry_time_utc', 'i64'],
  ['nonce', 'bytes'],
  ['package_name', 'str'],
  ['package_version', 'str'],
  ['package_build_number', 'u64'],
  ['package_build_host', 'str'],
  ['hostname', 'str'],
  ['network_hostname', 'str'],
  ['machine_id', 'str'],
  ['machine', 'str'],
  ['cpuid', 'u32s'],
  ['cpu_vendor', 'str'],
  ['cpu_brand', 'str'],
  ['number_of_processors', 'u64'],
  ['cache_line_size', 'u64'],
  ['page_size', 'u64'],
  ['kernel_name', 'str'],
  ['kernel_release', 'str'],
  ['kernel_version', 'str'],
  ['system_uptime', 'u64'],
  ['system_total_memory', 'u64'],
  ['system_available_memory', 'u64'],
  ['system_total_swap', 'u64'],
  ['system_available_swap', 'u64'],
  ['process_id', 'u64'],
  ['process_start_time_utc', 'i64'],
  ['process_max_rss', 'u64'],
  ['service_name', 'str'],
  ['api_name', 'str'],
  ['api', 'str'],
  ['instance', 'str'],
  ['session_id', 'str'],
  ['is_uat', 'bool'],
  ['cpu_affinity', 'u32s'],
  ['symbols', 'u64'],
  ['total_symbols', 'u64'],
  ['config_hash', 'bytes'],
  ['accounts', 'u64'],
  ['users', 'u64'],
  ['create_order', 'u64'],
  ['modify_order', 'u64'],
  ['cancel_order', 'u64'],
  ['cancel_all_orders', 'u64'],
  ['mass_quote', 'u64'],
  ['cancel_quotes', 'u64'],
  ['please_report', 'bool'],
  ['please_report_details', 'bool'],
  ['download_trades', 'bool'],
  ['download_orders', 'bool'],
  ['event_log', 'bool'],
  ['position_manager', 'bool'],
  ['risk_manager', 'bool'],
  ['journal', 'bool'],
  ['udp_publish', 'bool'],
  ['internal_latency_sum', 'u64'],
  ['internal_latency_count_500ns', 'u64'],
  ['internal_latency_count_1us', 'u64'],
  ['internal_latency_count_2us', 'u64'],
  ['internal_latency_count_5us', 'u64'],
  ['internal_latency_count_10us', 'u64'],
  ['internal_latency_count_20us', 'u64'],
  ['internal_latency_count_inf', 'u64'],
  ['external_latency_sum', 'u64'],
  ['external_latency_count_10us', 'u64'],
  ['external_latency_count_100us', 'u64'],
  ['external_latency_count_1ms', 'u64'],
  ['external_latency_count_10ms', 'u64'],
  ['external_latency_count_100ms', 'u64'],
  ['external_latency_count_1s', 'u64'],
  ['external_latency_count_inf', 'u64'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/** A LicenseRequest as plain data; wire names are snake_case, these are the same names in camelCase. */
export interface LicenseRequest {
  readonly requestTimeUtc: bigint;
  readonly tokenExpiryTimeUtc: bigint;
  readonly nonce: Uint8Array;
  readonly packageName: string;
  readonly packageVersion: string;
  readonly packageBuildNumber: bigint;
  readonly packageBuildHost: string;
  readonly hostname: string;
  readonly networkHostname: string;
  readonly machineId: string;
  readonly machine: string;
  readonly cpuid: readonly number[];
  readonly cpuVendor: string;
  readonly cpuBrand: string;
  readonly numberOfProcessors: bigint;
  readonly cacheLineSize: bigint;
  readonly pageSize: bigint;
  readonly kernelName: string;
  readonly kernelRelease: string;
  readonly kernelVersion: string;
  readonly systemUptime: bigint;
  readonly systemTotalMemory: bigint;
  readonly systemAvailableMemory: bigint;
  readonly systemTotalSwap: bigint;
  readonly systemAvailableSwap: bigint;
  readonly processId: bigint;
  readonly processStartTimeUtc: bigint;
  readonly processMaxRss: bigint;
  readonly serviceName: string;
  readonly apiName: string;
  readonly api: string;
  readonly instance: string;
  readonly sessionId: string;
  readonly isUat: boolean;
  readonly cpuAffinity: readonly number[];
  readonly symbols: bigint;
  readonly totalSymbols: bigint;
  readonly configHash: Uint8Array;
  readonly accounts: bigint;
  readonly users: bigint;
  readonly createOrder: bigint;
  readonly modifyOrder: bigint;
  readonly cancelOrder: bigint;
  readonly cancelAllOrders: bigint;
  readonly massQuote: bigint;
  readonly cancelQuotes: bigint;
  readonly pleaseReport: boolean;
  readonly pleaseReportDetails: boolean;
  readonly downloadTrades: boolean;
  readonly downloadOrders: boolean;
  readonly eventLog: boolean;
  readonly positionManager: boolean;
  readonly riskManager: boolean;
  readonly journal: boolean;
  readonly udpPublish: boolean;
  readonly internalLatencySum: bigint;
  readonly internalLatencyCount500ns: bigint;
  readonly internalLatencyCount1us: bigint;
  readonly internalLatencyCount2us: bigint;
  readonly internalLatencyCount5us: bigint;
  readonly internalLatencyCount10us: bigint;
  readonly internalLatencyCount20us: bigint;
  readonly internalLatencyCountInf: bigint;
  readonly externalLatencySum: bigint;
  readonly externalLatencyCount10us: bigint;
  readonly externalLatencyCount100us: bigint;
  readonly externalLatencyCount1ms: bigint;
  readonly externalLatencyCount10ms: bigint;
  readonly externalLatencyCount100ms: bigint;
  readonly externalLatencyCount1s: bigint;
  readonly externalLatencyCountInf: bigint;
}

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** The string fields: wire name and property. */
const textFields = licenseRequestFields.filter(([, kind]) => kind === 'str').map(([wire]) => [`LicenseRequest.${wire}`, camel(wire) as keyof LicenseRequest] as const);

/** Rules beyond the schema, checked on both encode and decode. */
function validate(request: LicenseRequest): void {
  requireLength('LicenseRequest.nonce', request.nonce, REQUEST_NONCE_BYTES);
  requireLength('LicenseRequest.config_hash', request.configHash, CONFIG_HASH_BYTES);
  requireNonEmpty('LicenseRequest.package_name', request.packageName);
  // Every string reaches the ledger's events or telemetry, both stored in PostgreSQL.
  for (const [field, property] of textFields) requireStorableText(field, request[property] as string);
}

export function encodeLicenseRequest(request: LicenseRequest): Uint8Array {
  validate(request);
  const builder = new flatbuffers.Builder(1024);
  const nonce = fb.LicenseRequest.createNonceVector(builder, request.nonce);
  const packageName = request.packageName === '' ? 0 : builder.createString(request.packageName);
  const packageVersion = request.packageVersion === '' ? 0 : builder.createString(request.packageVersion);
  const packageBuildHost = request.packageBuildHost === '' ? 0 : builder.createString(request.packageBuildHost);
  const hostname = request.hostname === '' ? 0 : builder.createString(request.hostname);
  const networkHostname = request.networkHostname === '' ? 0 : builder.createString(request.networkHostname);
  const machineId = request.machineId === '' ? 0 : builder.createString(request.machineId);
  const machine = request.machine === '' ? 0 : builder.createString(request.machine);
  const cpuid = request.cpuid.length === 0 ? 0 : fb.LicenseRequest.createCpuidVector(builder, uint32s('LicenseRequest.cpuid', request.cpuid));
  const cpuVendor = request.cpuVendor === '' ? 0 : builder.createString(request.cpuVendor);
  const cpuBrand = request.cpuBrand === '' ? 0 : builder.createString(request.cpuBrand);
  const kernelName = request.kernelName === '' ? 0 : builder.createString(request.kernelName);
  const kernelRelease = request.kernelRelease === '' ? 0 : builder.createString(request.kernelRelease);
  const kernelVersion = request.kernelVersion === '' ? 0 : builder.createString(request.kernelVersion);
  const serviceName = request.serviceName === '' ? 0 : builder.createString(request.serviceName);
  const apiName = request.apiName === '' ? 0 : builder.createString(request.apiName);
  const api = request.api === '' ? 0 : builder.createString(request.api);
  const instance = request.instance === '' ? 0 : builder.createString(request.instance);
  const sessionId = request.sessionId === '' ? 0 : builder.createString(request.sessionId);
  const cpuAffinity = request.cpuAffinity.length === 0 ? 0 : fb.LicenseRequest.createCpuAffinityVector(builder, uint32s('LicenseRequest.cpu_affinity', request.cpuAffinity));
  const configHash = fb.LicenseRequest.createConfigHashVector(builder, request.configHash);
  fb.LicenseRequest.startLicenseRequest(builder);
  fb.LicenseRequest.addRequestTimeUtc(builder, int64('LicenseRequest.request_time_utc', request.requestTimeUtc));
  fb.LicenseRequest.addTokenExpiryTimeUtc(builder, int64('LicenseRequest.token_expiry_time_utc', request.tokenExpiryTimeUtc));
  fb.LicenseRequest.addNonce(builder, nonce);
  if (packageName) fb.LicenseRequest.addPackageName(builder, packageName);
  if (packageVersion) fb.LicenseRequest.addPackageVersion(builder, packageVersion);
  fb.LicenseRequest.addPackageBuildNumber(builder, uint64('LicenseRequest.package_build_number', request.packageBuildNumber));
  if (packageBuildHost) fb.LicenseRequest.addPackageBuildHost(builder, packageBuildHost);
  if (hostname) fb.LicenseRequest.addHostname(builder, hostname);
  if (networkHostname) fb.LicenseRequest.addNetworkHostname(builder, networkHostname);
  if (machineId) fb.LicenseRequest.addMachineId(builder, machineId);
  if (machine) fb.LicenseRequest.addMachine(builder, machine);
  if (cpuid) fb.LicenseRequest.addCpuid(builder, cpuid);
  if (cpuVendor) fb.LicenseRequest.addCpuVendor(builder, cpuVendor);
  if (cpuBrand) fb.LicenseRequest.addCpuBrand(builder, cpuBrand);
  fb.LicenseRequest.addNumberOfProcessors(builder, uint64('LicenseRequest.number_of_processors', request.numberOfProcessors));
  fb.LicenseRequest.addCacheLineSize(builder, uint64('LicenseRequest.cache_line_size', request.cacheLineSize));
  fb.LicenseRequest.addPageSize(builder, uint64('LicenseRequest.page_size', request.pageSize));
  if (kernelName) fb.LicenseRequest.addKernelName(builder, kernelName);
  if (kernelRelease) fb.LicenseRequest.addKernelRelease(builder, kernelRelease);
  if (kernelVersion) fb.LicenseRequest.addKernelVersion(builder, kernelVersion);
  fb.LicenseRequest.addSystemUptime(builder, uint64('LicenseRequest.system_uptime', request.systemUptime));
  fb.LicenseRequest.addSystemTotalMemory(builder, uint64('LicenseRequest.system_total_memory', request.systemTotalMemory));
  fb.LicenseRequest.addSystemAvailableMemory(builder, uint64('LicenseRequest.system_available_memory', request.systemAvailableMemory));
  fb.LicenseRequest.addSystemTotalSwap(builder, uint64('LicenseRequest.system_total_swap', request.systemTotalSwap));
  fb.LicenseRequest.addSystemAvailableSwap(builder, uint64('LicenseRequest.system_available_swap', request.systemAvailableSwap));
  fb.LicenseRequest.addProcessId(builder, uint64('LicenseRequest.process_id', request.processId));
  fb.LicenseRequest.addProcessStartTimeUtc(builder, int64('LicenseRequest.process_start_time_utc', request.processStartTimeUtc));
  fb.LicenseRequest.addProcessMaxRss(builder, uint64('LicenseRequest.process_max_rss', request.processMaxRss));
  if (serviceName) fb.LicenseRequest.addServiceName(builder, serviceName);
  if (apiName) fb.LicenseRequest.addApiName(builder, apiName);
  if (api) fb.LicenseRequest.addApi(builder, api);
  if (instance) fb.LicenseRequest.addInstance(builder, instance);
  if (sessionId) fb.LicenseRequest.addSessionId(builder, sessionId);
  fb.LicenseRequest.addIsUat(builder, request.isUat);
  if (cpuAffinity) fb.LicenseRequest.addCpuAffinity(builder, cpuAffinity);
  fb.LicenseRequest.addSymbols(builder, uint64('LicenseRequest.symbols', request.symbols));
  fb.LicenseRequest.addTotalSymbols(builder, uint64('LicenseRequest.total_symbols', request.totalSymbols));
  fb.LicenseRequest.addConfigHash(builder, configHash);
  fb.LicenseRequest.addAccounts(builder, uint64('LicenseRequest.accounts', request.accounts));
  fb.LicenseRequest.addUsers(builder, uint64('LicenseRequest.users', request.users));
  fb.LicenseRequest.addCreateOrder(builder, uint64('LicenseRequest.create_order', request.createOrder));
  fb.LicenseRequest.addModifyOrder(builder, uint64('LicenseRequest.modify_order', request.modifyOrder));
  fb.LicenseRequest.addCancelOrder(builder, uint64('LicenseRequest.cancel_order', request.cancelOrder));
  fb.LicenseRequest.addCancelAllOrders(builder, uint64('LicenseRequest.cancel_all_orders', request.cancelAllOrders));
  fb.LicenseRequest.addMassQuote(builder, uint64('LicenseRequest.mass_quote', request.massQuote));
  fb.LicenseRequest.addCancelQuotes(builder, uint64('LicenseRequest.cancel_quotes', request.cancelQuotes));
  fb.LicenseRequest.addPleaseReport(builder, request.pleaseReport);
  fb.LicenseRequest.addPleaseReportDetails(builder, request.pleaseReportDetails);
  fb.LicenseRequest.addDownloadTrades(builder, request.downloadTrades);
  fb.LicenseRequest.addDownloadOrders(builder, request.downloadOrders);
  fb.LicenseRequest.addEventLog(builder, request.eventLog);
  fb.LicenseRequest.addPositionManager(builder, request.positionManager);
  fb.LicenseRequest.addRiskManager(builder, request.riskManager);
  fb.LicenseRequest.addJournal(builder, request.journal);
  fb.LicenseRequest.addUdpPublish(builder, request.udpPublish);
  fb.LicenseRequest.addInternalLatencySum(builder, uint64('LicenseRequest.internal_latency_sum', request.internalLatencySum));
  fb.LicenseRequest.addInternalLatencyCount500ns(builder, uint64('LicenseRequest.internal_latency_count_500ns', request.internalLatencyCount500ns));
  fb.LicenseRequest.addInternalLatencyCount1us(builder, uint64('LicenseRequest.internal_latency_count_1us', request.internalLatencyCount1us));
  fb.LicenseRequest.addInternalLatencyCount2us(builder, uint64('LicenseRequest.internal_latency_count_2us', request.internalLatencyCount2us));
  fb.LicenseRequest.addInternalLatencyCount5us(builder, uint64('LicenseRequest.internal_latency_count_5us', request.internalLatencyCount5us));
  fb.LicenseRequest.addInternalLatencyCount10us(builder, uint64('LicenseRequest.internal_latency_count_10us', request.internalLatencyCount10us));
  fb.LicenseRequest.addInternalLatencyCount20us(builder, uint64('LicenseRequest.internal_latency_count_20us', request.internalLatencyCount20us));
  fb.LicenseRequest.addInternalLatencyCountInf(builder, uint64('LicenseRequest.internal_latency_count_inf', request.internalLatencyCountInf));
  fb.LicenseRequest.addExternalLatencySum(builder, uint64('LicenseRequest.external_latency_sum', request.externalLatencySum));
  fb.LicenseRequest.addExternalLatencyCount10us(builder, uint64('LicenseRequest.external_latency_count_10us', request.externalLatencyCount10us));
  fb.LicenseRequest.addExternalLatencyCount100us(builder, uint64('LicenseRequest.external_latency_count_100us', request.externalLatencyCount100us));
  fb.LicenseRequest.addExternalLatencyCount1ms(builder, uint64('LicenseRequest.external_latency_count_1ms', request.externalLatencyCount1ms));
  fb.LicenseRequest.addExternalLatencyCount10ms(builder, uint64('LicenseRequest.external_latency_count_10ms', request.externalLatencyCount10ms));
  fb.LicenseRequest.addExternalLatencyCount100ms(builder, uint64('LicenseRequest.external_latency_count_100ms', request.externalLatencyCount100ms));
  fb.LicenseRequest.addExternalLatencyCount1s(builder, uint64('LicenseRequest.external_latency_count_1s', request.externalLatencyCount1s));
  fb.LicenseRequest.addExternalLatencyCountInf(builder, uint64('LicenseRequest.external_latency_count_inf', request.externalLatencyCountInf));
  builder.finish(fb.LicenseRequest.endLicenseRequest(builder));
  return builder.asUint8Array().slice();
}

export function decodeLicenseRequest(bytes: Uint8Array): LicenseRequest {
  verifyTable('LicenseRequest', bytes, licenseRequestFields, ['nonce', 'package_name', 'config_hash']);
  const r = fb.LicenseRequest.getRootAsLicenseRequest(new flatbuffers.ByteBuffer(bytes));
  const request: LicenseRequest = {
    requestTimeUtc: r.requestTimeUtc(),
    tokenExpiryTimeUtc: r.tokenExpiryTimeUtc(),
    nonce: copyBytes(r.nonceArray()),
    packageName: utf8('LicenseRequest.package_name', r.packageName(flatbuffers.Encoding.UTF8_BYTES)),
    packageVersion: utf8('LicenseRequest.package_version', r.packageVersion(flatbuffers.Encoding.UTF8_BYTES)),
    packageBuildNumber: r.packageBuildNumber(),
    packageBuildHost: utf8('LicenseRequest.package_build_host', r.packageBuildHost(flatbuffers.Encoding.UTF8_BYTES)),
    hostname: utf8('LicenseRequest.hostname', r.hostname(flatbuffers.Encoding.UTF8_BYTES)),
    networkHostname: utf8('LicenseRequest.network_hostname', r.networkHostname(flatbuffers.Encoding.UTF8_BYTES)),
    machineId: utf8('LicenseRequest.machine_id', r.machineId(flatbuffers.Encoding.UTF8_BYTES)),
    machine: utf8('LicenseRequest.machine', r.machine(flatbuffers.Encoding.UTF8_BYTES)),
    cpuid: readUint32s(r.cpuidLength(), (i) => r.cpuid(i)),
    cpuVendor: utf8('LicenseRequest.cpu_vendor', r.cpuVendor(flatbuffers.Encoding.UTF8_BYTES)),
    cpuBrand: utf8('LicenseRequest.cpu_brand', r.cpuBrand(flatbuffers.Encoding.UTF8_BYTES)),
    numberOfProcessors: r.numberOfProcessors(),
    cacheLineSize: r.cacheLineSize(),
    pageSize: r.pageSize(),
    kernelName: utf8('LicenseRequest.kernel_name', r.kernelName(flatbuffers.Encoding.UTF8_BYTES)),
    kernelRelease: utf8('LicenseRequest.kernel_release', r.kernelRelease(flatbuffers.Encoding.UTF8_BYTES)),
    kernelVersion: utf8('LicenseRequest.kernel_version', r.kernelVersion(flatbuffers.Encoding.UTF8_BYTES)),
    systemUptime: r.systemUptime(),
    systemTotalMemory: r.systemTotalMemory(),
    systemAvailableMemory: r.systemAvailableMemory(),
    systemTotalSwap: r.systemTotalSwap(),
    systemAvailableSwap: r.systemAvailableSwap(),
    processId: r.processId(),
    processStartTimeUtc: r.processStartTimeUtc(),
    processMaxRss: r.processMaxRss(),
    serviceName: utf8('LicenseRequest.service_name', r.serviceName(flatbuffers.Encoding.UTF8_BYTES)),
    apiName: utf8('LicenseRequest.api_name', r.apiName(flatbuffers.Encoding.UTF8_BYTES)),
    api: utf8('LicenseRequest.api', r.api(flatbuffers.Encoding.UTF8_BYTES)),
    instance: utf8('LicenseRequest.instance', r.instance(flatbuffers.Encoding.UTF8_BYTES)),
    sessionId: utf8('LicenseRequest.session_id', r.sessionId(flatbuffers.Encoding.UTF8_BYTES)),
    isUat: r.isUat(),
    cpuAffinity: readUint32s(r.cpuAffinityLength(), (i) => r.cpuAffinity(i)),
    symbols: r.symbols(),
    totalSymbols: r.totalSymbols(),
    configHash: copyBytes(r.configHashArray()),
    accounts: r.accounts(),
    users: r.users(),
    createOrder: r.createOrder(),
    modifyOrder: r.modifyOrder(),
    cancelOrder: r.cancelOrder(),
    cancelAllOrders: r.cancelAllOrders(),
    massQuote: r.massQuote(),
    cancelQuotes: r.cancelQuotes(),
    pleaseReport: r.pleaseReport(),
    pleaseReportDetails: r.pleaseReportDetails(),
    downloadTrades: r.downloadTrades(),
    downloadOrders: r.downloadOrders(),
    eventLog: r.eventLog(),
    positionManager: r.positionManager(),
    riskManager: r.riskManager(),
    journal: r.journal(),
    udpPublish: r.udpPublish(),
    internalLatencySum: r.internalLatencySum(),
    internalLatencyCount500ns: r.internalLatencyCount500ns(),
    internalLatencyCount1us: r.internalLatencyCount1us(),
    internalLatencyCount2us: r.internalLatencyCount2us(),
    internalLatencyCount5us: r.internalLatencyCount5us(),
    internalLatencyCount10us: r.internalLatencyCount10us(),
    internalLatencyCount20us: r.internalLatencyCount20us(),
    internalLatencyCountInf: r.internalLatencyCountInf(),
    externalLatencySum: r.externalLatencySum(),
    externalLatencyCount10us: r.externalLatencyCount10us(),
    externalLatencyCount100us: r.externalLatencyCount100us(),
    externalLatencyCount1ms: r.externalLatencyCount1ms(),
    externalLatencyCount10ms: r.externalLatencyCount10ms(),
    externalLatencyCount100ms: r.externalLatencyCount100ms(),
    externalLatencyCount1s: r.externalLatencyCount1s(),
    externalLatencyCountInf: r.externalLatencyCountInf(),
  };
  validate(request);
  return request;
}
