/**
 * Stack traces of a bundled function mapped back to its TypeScript sources, from the `.map` file
 * esbuild writes beside the bundle (Source Map Revision 3), read the first time a stack is mapped.
 * The functions do not run with `--enable-source-maps`: with it, Node reads and parses the whole
 * map (about 2 MB for the flow-executor) while the bundle loads, on every cold start, for stacks
 * that only an engine fault prints. The logger maps the stacks it writes (shared/observability.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Each bundle's map, parsed on first use; null when the file has none (or it cannot be read). */
const maps = new Map<string, SourceMap | null>();

function mapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    map = null;
    try {
      const path = `${file}.map`;
      if (existsSync(path)) map = new SourceMap(JSON.parse(readFileSync(path, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/** A V8 stack frame naming an absolute `.js` file: `    at fn (/var/task/index.js:1:2345)` or `    at /var/task/index.js:1:2345`. */
const FRAME = /^(\s*at (?:.*? \()?)(\/[^():]+\.[cm]?js):(\d+):(\d+)(\)?)$/;

/**
 * `stack` with every frame in a file that has a `.map` beside it replaced by its original source,
 * line and column (1-based, as V8 prints them); other lines unchanged. Never throws.
 * @example sourceMappedStack('Error: x\n    at run (/var/task/index.js:1:2345)') // 'Error: x\n    at run (/var/task/shared/executor/executor.ts:120:11)'
 */
export function sourceMappedStack(stack: string): string {
  return stack
    .split('\n')
    .map((line) => {
      const frame = FRAME.exec(line);
      if (!frame) return line;
      const [, head, file, lineNo, column, tail] = frame as unknown as [string, string, string, string, string, string];
      const map = mapOf(file);
      if (!map) return line;
      const entry = map.findEntry(Number(lineNo) - 1, Number(column) - 1);
      if (!('originalSource' in entry) || typeof entry.originalSource !== 'string') return line;
      const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : isAbsolute(entry.originalSource) ? entry.originalSource : resolve(dirname(file), entry.originalSource);
      return `${head}${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}${tail}`;
    })
    .join('\n');
}
