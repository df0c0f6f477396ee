/**
 * Notice when files change. The directories are watched, not the files: Kubernetes updates a
 * mounted ConfigMap or Secret by swapping a symlink (`..data`), which a watch on the file itself
 * would miss, and an editor or `mv` that replaces a file leaves a watch on the old one deaf.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * Calls `onChange` on every event about one of `files` (events come in bursts: callers debounce).
 * A directory that cannot be watched is reported through `onUnwatchable`; the others still are.
 * Returns the function that stops watching.
 */
export function watchFiles(files: readonly string[], onChange: () => void, onUnwatchable: (directory: string, err: Error) => void): () => void {
  const names = new Map<string, Set<string>>();
  for (const file of files) {
    const directory = dirname(resolve(file));
    names.set(directory, (names.get(directory) ?? new Set()).add(basename(file)));
  }
  const watchers: FSWatcher[] = [];
  for (const [directory, watched] of names) {
    try {
      const watcher = watch(directory, (_event, changed) => {
        if (changed === null || watched.has(changed) || changed === '..data') onChange();
      });
      // The directory removed or unmounted: said once, and no uncaught 'error' takes the process down.
      watcher.once('error', (err) => {
        watcher.close();
        onUnwatchable(directory, err);
      });
      watchers.push(watcher);
    } catch (err) {
      onUnwatchable(directory, err as Error);
    }
  }
  return () => {
    for (const w of watchers) w.close();
  };
}
