import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * The filesystem under an embedded store's data directory, and whether it makes every insert
 * dearer. On ext4 without a journal the kernel checks each recently freed inode before it hands
 * its number out again (`recently_deleted` in `fs/ext4/ialloc.c`); embedded ClickHouse writes
 * about ten files for each part of each table an insert reaches, and removes merged parts at once,
 * so inodes are freed and taken all the time. Measured on such a root filesystem: one-event
 * inserts into `events_v1` and its views took 52–170 ms of kernel CPU each, against 12–15 ms on a
 * journaled ext4 image on the same disk and 10–15 ms on tmpfs (README, Scaling).
 */
export interface DataDirFilesystem {
  mountPoint: string;
  device: string;
  type: string;
  /** ext4 only: whether the filesystem keeps a journal. */
  journal?: boolean;
}

/** Where a path is mounted: what `/proc/mounts` says of it. */
type Mount = Omit<DataDirFilesystem, 'journal'>;

/** `\040` and the like, as /proc/mounts writes spaces, tabs, newlines and backslashes in paths. */
const unescapeMount = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The mount holding `path` (absolute, symlinks resolved): the longest mount point above it; the last mounted wins a tie. */
export function mountOf(path: string, mounts: string): Mount | undefined {
  let found: Mount | undefined;
  for (const line of mounts.split('\n')) {
    const [device, mountPoint, type] = line.split(' ').map(unescapeMount);
    if (!device || !mountPoint || !type) continue;
    const inside = mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);
    if (inside && (!found || mountPoint.length >= found.mountPoint.length)) found = { device, mountPoint, type };
  }
  return found;
}

/** What `/sys/fs/ext4/<device>/journal_task` says: the journal's thread, or `<none>` without a journal. */
export function hasJournal(journalTask: string): boolean {
  const task = journalTask.trim();
  return task !== '<none>' && task !== '';
}

/** The deepest part of `path` that exists, with its symlinks resolved. */
function existingRealPath(path: string): string {
  let at = resolve(path);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return realpathSync(at);
}

/** The filesystem under `dataDir` as Linux tells it; undefined where /proc does not say. */
export function dataDirFilesystem(dataDir: string): DataDirFilesystem | undefined {
  try {
    const mount = mountOf(existingRealPath(dataDir), readFileSync('/proc/mounts', 'utf8'));
    if (!mount || mount.type !== 'ext4') return mount;
    const task = `/sys/fs/ext4/${basename(existsSync(mount.device) ? realpathSync(mount.device) : mount.device)}/journal_task`;
    return existsSync(task) ? { ...mount, journal: hasJournal(readFileSync(task, 'utf8')) } : mount;
  } catch {
    return undefined;
  }
}

/** A line saying the filesystem makes every insert dearer, when it does; undefined otherwise. */
export function slowInsertsWarning(fs: DataDirFilesystem | undefined): string | undefined {
  if (fs?.type !== 'ext4' || fs.journal !== false) return undefined;
  return `the data directory is on ${describeFilesystem(fs)}: each insert costs several times the kernel CPU it does on a journaled filesystem (README, Scaling)`;
}

/** How the warning and the benchmarks name a filesystem. */
export function describeFilesystem(fs: DataDirFilesystem | undefined): string {
  if (!fs) return 'unknown filesystem';
  const journal = fs.journal === undefined ? '' : fs.journal ? ' with a journal' : ' without a journal';
  return `${fs.type}${journal} (${fs.device} on ${fs.mountPoint})`;
}
