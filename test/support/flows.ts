/** Builders for flows in tests. */
import type { FlowInput } from '../../shared/flow/schema';
import { parseFlow } from '../../shared/flow/validate';

/** A minimal valid flow around the given steps. */
export function flowOf(steps: unknown[], extra: Partial<FlowInput> = {}): Record<string, unknown> {
  return { id: 'test-flow', name: 'Test flow', flowType: 'IVR', version: 1, steps, ...extra };
}

/** Parses (with defaults) a flow built by {@link flowOf}; loopback hosts allowed. */
export function parsed(steps: unknown[], extra: Partial<FlowInput> = {}) {
  return parseFlow(flowOf(steps, extra), { allowPrivateHosts: true });
}
