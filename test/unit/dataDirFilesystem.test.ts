import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataDirFilesystem, describeFilesystem, hasJournal, mountOf, slowInsertsWarning } from '../../core/dataDirFilesystem.js';

const MOUNTS = [
  '/dev/vda / ext4 rw,relatime,discard 0 0',
  'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
  'tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0',
  '/dev/loop0 /mnt/j ext4 rw,relatime 0 0',
  '/dev/sdb1 /srv/my\\040data xfs rw,relatime 0 0',
  '/dev/sdc1 /mnt/j ext4 rw,relatime 0 0',
].join('\n');

describe('the filesystem under a data directory', () => {
  it('is the longest mount point above the path, the last mounted on a tie', () => {
    expect(mountOf('/work/main/data', MOUNTS)).toEqual({ device: '/dev/vda', mountPoint: '/', type: 'ext4' });
    expect(mountOf('/dev/shm/balances', MOUNTS)).toEqual({ device: 'tmpfs', mountPoint: '/dev/shm', type: 'tmpfs' });
    expect(mountOf('/mnt/j/x', MOUNTS)).toEqual({ device: '/dev/sdc1', mountPoint: '/mnt/j', type: 'ext4' });
    expect(mountOf('/mnt/j', MOUNTS)?.device).toBe('/dev/sdc1');
    // A sibling whose name starts like a mount point is not under it.
    expect(mountOf('/mnt/jx/data', MOUNTS)?.mountPoint).toBe('/');
    // Spaces in mount points are written as octal escapes.
    expect(mountOf('/srv/my data/balances', MOUNTS)).toEqual({ device: '/dev/sdb1', mountPoint: '/srv/my data', type: 'xfs' });
  });

  it('has a journal when ext4 names a journal thread for it', () => {
    expect(hasJournal('<none>\n')).toBe(false);
    expect(hasJournal('9986\n')).toBe(true);
    expect(hasJournal('jbd2/sda1-8\n')).toBe(true);
  });

  it('warns only about ext4 known to run without a journal', () => {
    const bare = { device: '/dev/vda', mountPoint: '/', type: 'ext4', journal: false };
    expect(slowInsertsWarning(bare)).toMatch(/ext4 without a journal \(\/dev\/vda on \/\)/);
    expect(slowInsertsWarning({ ...bare, journal: true })).toBeUndefined();
    expect(slowInsertsWarning({ device: '/dev/vda', mountPoint: '/', type: 'ext4' })).toBeUndefined();
    expect(slowInsertsWarning({ device: 'tmpfs', mountPoint: '/dev/shm', type: 'tmpfs' })).toBeUndefined();
    expect(slowInsertsWarning(undefined)).toBeUndefined();
    expect(describeFilesystem(bare)).toBe('ext4 without a journal (/dev/vda on /)');
    expect(describeFilesystem({ device: 'tmpfs', mountPoint: '/dev/shm', type: 'tmpfs' })).toBe('tmpfs (tmpfs on /dev/shm)');
    expect(describeFilesystem(undefined)).toBe('unknown filesystem');
  });

  it('is found for a directory not made yet, from the part of its path that exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-of-'));
    try {
      const fs = dataDirFilesystem(join(dir, 'not', 'made', 'yet'));
      // Wherever the machine mounts its temporary directory, it is a mount /proc names.
      expect(fs?.mountPoint).toMatch(/^\//);
      expect(fs?.type).toMatch(/^\S+$/);
      expect(dataDirFilesystem(dir)).toEqual(fs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
