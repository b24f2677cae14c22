import { getContainerRuntimeClient } from 'testcontainers';

/**
 * Whether a container engine answers. The suites that need one skip without it, and say so by
 * name: they are the only suites allowed to skip.
 */
export async function dockerAvailable(suite: string): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    console.warn(`[docker] "${suite}" skipped: no Docker engine on this machine`);
    return false;
  }
}
