/**
 * Marks a promise whose failure reaches its owner by another path (it is awaited or raced later)
 * as handled now, so the runtime does not report it as unhandled in the meantime. The failure
 * itself is not dropped: whoever awaits the promise receives it.
 */
export function deliveredLater<T>(promise: Promise<T>): Promise<T> {
  promise.then(undefined, () => {
    // Delivered to the awaiting owner; nothing to do here.
  });
  return promise;
}
