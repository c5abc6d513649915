/**
 * A test-only step type that suspends the execution until it is resumed: `TestWait` waits up to
 * `waitMs` (its `onTimeout` branch is OnTimeout) and, when resumed, sets `outputVariable` to the
 * payload and takes OnSuccess. Registered with `registerTestStepType`, so it is not part of the
 * flow schema; tests insert it into parsed flows with {@link withTestWait}.
 */
import * as z from 'zod';
import { stepFailure } from '#shared/flow/failures';
import type { Flow } from '#shared/flow/schema';
import { registerTestStepType } from '#shared/steps/registry';
import { defineStep } from '#shared/steps/types';

const TestWaitConfig = z.object({ waitMs: z.number().int().positive().default(60_000), outputVariable: z.string().default('payload') }).strict();
type TestWaitConfig = z.infer<typeof TestWaitConfig>;

export const testWaitStep = defineStep<TestWaitConfig>({
  type: 'TestWait',
  configSchema: TestWaitConfig,
  branches: ['OnSuccess', 'OnTimeout'],
  analyze: (c) => ({ sets: [c.outputVariable] }),
  execute(step, ctx) {
    return Promise.resolve({ suspend: { waitId: `${ctx.executionId}:${step.id}:${ctx.randomness.id()}`, until: ctx.clock.now() + step.configuration.waitMs, onTimeout: 'OnTimeout' } });
  },
  resume(step, event) {
    if (event.kind === 'timeout') return Promise.resolve({ branch: 'OnTimeout', status: 'FAILED', trace: { error: stepFailure('timeout', `nothing resumed the step by ${new Date(event.until).toISOString()}`) } });
    if (event.kind !== 'resume') throw new Error('TestWait only waits for a resume');
    return Promise.resolve({ branch: 'OnSuccess', status: 'SUCCEEDED', variables: { [step.configuration.outputVariable]: event.payload } });
  },
});
registerTestStepType(testWaitStep);

/** A copy of a parsed flow with the step `stepId` replaced by a TestWait step (its transitions kept). */
export function withTestWait(flow: Flow, stepId: string, configuration: Partial<TestWaitConfig> = {}): Flow {
  return {
    ...flow,
    steps: flow.steps.map((s) => (s.id === stepId ? ({ ...s, type: 'TestWait', configuration: TestWaitConfig.parse(configuration) } as unknown as Flow['steps'][number]) : s)),
  };
}
