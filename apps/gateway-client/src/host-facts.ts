import { lookup, lookupService } from 'node:dns/promises';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import * as os from 'node:os';
import type { LicenseRequest } from '@license-ledger/protocol-wire';

/** The facts about this host and process that a LicenseRequest reports. */
export type HostFacts = Pick<
  LicenseRequest,
  | 'hostname'
  | 'networkHostname'
  | 'machineId'
  | 'machine'
  | 'cpuid'
  | 'cpuVendor'
  | 'cpuBrand'
  | 'numberOfProcessors'
  | 'cacheLineSize'
  | 'pageSize'
  | 'kernelName'
  | 'kernelRelease'
  | 'kernelVersion'
  | 'systemUptime'
  | 'systemTotalMemory'
  | 'systemAvailableMemory'
  | 'systemTotalSwap'
  | 'systemAvailableSwap'
  | 'processId'
  | 'processStartTimeUtc'
  | 'processMaxRss'
  | 'cpuAffinity'
>;

const readText = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** "key : value" lines of /proc/cpuinfo (first processor) or /proc/meminfo. */
export function procFields(text: string | null): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' && fields.size > 0 && fields.has('processor')) break;
    const at = line.indexOf(':');
    if (at > 0 && !fields.has(line.slice(0, at).trim())) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return fields;
}

const meminfoBytes = (meminfo: Map<string, string>, key: string): bigint => BigInt(/^(\d+) kB$/.exec(meminfo.get(key) ?? '')?.[1] ?? '0') * 1024n;

/** EAX, EBX, ECX, EDX of CPUID leaf `leaf` from the Linux cpuid driver (/dev/cpu/0/cpuid; needs the module and root). */
function readCpuidLeaf(leaf: number): number[] | null {
  let fd: number | undefined;
  try {
    fd = openSync('/dev/cpu/0/cpuid', 'r');
    const registers = Buffer.alloc(16);
    if (readSync(fd, registers, 0, 16, leaf) !== 16) return null;
    return [0, 4, 8, 12].map((at) => registers.readUInt32LE(at));
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * CPUID leaves 0 and 1 as [EAX, EBX, ECX, EDX] each (8 values). Without the cpuid driver, what
 * /proc/cpuinfo determines: leaf 0 in full (max leaf, vendor) and leaf 1's EAX (the processor
 * signature), 5 values. Empty on non-x86.
 */
export function cpuidWords(cpuinfo: Map<string, string>): number[] {
  const leaf0 = readCpuidLeaf(0);
  const leaf1 = readCpuidLeaf(1);
  return leaf0 && leaf1 ? [...leaf0, ...leaf1] : cpuidFromCpuinfo(cpuinfo);
}

/** The part of CPUID leaves 0 and 1 that /proc/cpuinfo determines. */
export function cpuidFromCpuinfo(cpuinfo: ReadonlyMap<string, string>): number[] {
  const vendor = cpuinfo.get('vendor_id');
  const maxLeaf = Number(cpuinfo.get('cpuid level'));
  if (!vendor || vendor.length !== 12 || !Number.isInteger(maxLeaf)) return [];
  const word = (at: number): number => Buffer.from(vendor, 'latin1').readUInt32LE(at);
  const family = Number(cpuinfo.get('cpu family') ?? 0);
  const model = Number(cpuinfo.get('model') ?? 0);
  const stepping = Number(cpuinfo.get('stepping') ?? 0);
  const baseFamily = Math.min(family, 0xf);
  const extFamily = family > 0xf ? family - 0xf : 0;
  const signature = (stepping & 0xf) | ((model & 0xf) << 4) | (baseFamily << 8) | ((model >> 4) << 16) | (extFamily << 20);
  // Leaf 0 returns the vendor string in EBX, EDX, ECX order.
  return [maxLeaf, word(0), word(8), word(4), signature >>> 0];
}

/** CPUs this process may run on, from Cpus_allowed_list ("0-3,8"). */
export function parseCpuList(list: string): number[] {
  return list
    .split(',')
    .filter((part) => part.trim() !== '')
    .flatMap((part) => {
      const [from, to] = part.split('-').map(Number) as [number, number | undefined];
      return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
    });
}

function pageSize(): bigint {
  const match = /KernelPageSize:\s+(\d+) kB/.exec(readText('/proc/self/smaps') ?? '');
  return match ? BigInt(match[1] ?? '4') * 1024n : 4096n;
}

/** FQDN as `hostname -f` finds it: the canonical name of the host's address; the plain hostname when DNS has none. */
export async function networkHostname(hostname = os.hostname()): Promise<string> {
  try {
    const { address } = await lookup(hostname);
    const { hostname: canonical } = await lookupService(address, 0);
    return canonical.includes('.') ? canonical : hostname;
  } catch {
    return hostname;
  }
}

/** Static facts are read once; uptime, memory and RSS are read at each request. */
export async function collectHostFacts(nowNs: bigint): Promise<HostFacts> {
  const cpuinfo = procFields(readText('/proc/cpuinfo'));
  const meminfo = procFields(readText('/proc/meminfo'));
  const status = procFields(readText('/proc/self/status'));
  const hostname = os.hostname();
  const cacheLine = Number(readText('/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size')?.trim() ?? '0');
  return {
    hostname,
    networkHostname: await networkHostname(hostname),
    machineId: (readText('/etc/machine-id') ?? readText('/var/lib/dbus/machine-id') ?? '').trim(),
    machine: os.machine(),
    cpuid: cpuidWords(cpuinfo),
    cpuVendor: cpuinfo.get('vendor_id') ?? '',
    cpuBrand: cpuinfo.get('model name') ?? os.cpus()[0]?.model ?? '',
    numberOfProcessors: BigInt(os.cpus().length),
    cacheLineSize: BigInt(Number.isInteger(cacheLine) ? cacheLine : 0),
    pageSize: pageSize(),
    kernelName: os.type(),
    kernelRelease: os.release(),
    kernelVersion: os.version(),
    systemUptime: BigInt(Math.round(os.uptime() * 1e9)),
    systemTotalMemory: BigInt(os.totalmem()),
    systemAvailableMemory: meminfo.has('MemAvailable') ? meminfoBytes(meminfo, 'MemAvailable') : BigInt(os.freemem()),
    systemTotalSwap: meminfoBytes(meminfo, 'SwapTotal'),
    systemAvailableSwap: meminfoBytes(meminfo, 'SwapFree'),
    processId: BigInt(process.pid),
    processStartTimeUtc: nowNs - BigInt(Math.round(process.uptime() * 1e9)),
    processMaxRss: BigInt(process.resourceUsage().maxRSS) * 1024n,
    cpuAffinity: parseCpuList(status.get('Cpus_allowed_list') ?? ''),
  };
}
