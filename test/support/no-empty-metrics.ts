/**
 * vitest setupFiles: counts Powertools' empty-metrics warnings written to this worker's stdout or
 * stderr while a test file runs (files with metrics on included: observability, handlers) and
 * fails the file when there is one. An invocation that counted nothing must stay silent.
 */
import { afterAll, expect } from 'vitest';
import { EMPTY_METRICS_WARNING } from '#shared/observability';

let warnings = 0;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = (chunk: unknown, ...rest: unknown[]) => {
    if (String(chunk).includes(EMPTY_METRICS_WARNING)) warnings++;
    return write(chunk, ...rest);
  };
}

afterAll(() => {
  expect(warnings, `'${EMPTY_METRICS_WARNING}' warnings written by this test file`).toBe(0);
});
