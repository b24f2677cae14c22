/**
 * Runs every teardown step, in order, even after one fails, then fails with what failed: a
 * worker that stopped on an error reports it here instead of the error being dropped.
 */
export async function tearDown(...steps: Array<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} teardown steps failed`);
}
