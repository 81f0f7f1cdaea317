/**
 * Where a bench worker script is. Workers run compiled JS (Node 20 cannot
 * load .ts), so when this module is loaded from source (vitest) the URL
 * points into dist/bench/.
 */
export function benchWorkerUrl(name: string): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL(`../dist/bench/${name}.js`, here) : new URL(`./${name}.js`, here);
}
