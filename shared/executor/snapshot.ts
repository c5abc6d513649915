/**
 * An execution as data (docs/architecture.md, "Durable executions"): everything needed to continue
 * it later, in another process, is in this plain-JSON snapshot — the stack of frames (a sub-flow
 * call is a frame pushed on the stack, not a JavaScript call), the counters of the budgets, the
 * wait it is suspended on, and a revision for conditional writes. Versioned by `snapshotVersion`;
 * {@link parseSnapshot} checks a stored one before it is continued.
 */
import * as z from 'zod';
import type { ExecutionResult, TraceEntry } from '../steps/types';
import { SecretRedactor } from './redact';

/** The format of {@link ExecutionSnapshot}; bumped on any incompatible change. */
export const SNAPSHOT_VERSION = 1;

/**
 * The snapshot's schemas, built on first use rather than when the module loads (a cold start
 * that continues no stored execution never needs them).
 */
function buildSchemas() {
  /** Statuses of an execution: RUNNING and WAITING are not final. */
  const ExecutionStatusSchema = z.enum(['RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT']);

  /** A step that started and has not finished: it called a sub-flow (`call`) or suspended (`wait`). */
  const PendingSchema = z.object({
    kind: z.enum(['call', 'wait']),
    /** When the step started, epoch ms (its trace duration spans the call or the wait). */
    startedAt: z.number(),
  });

  /** One running flow on the stack. */
  const FrameSchema = z.object({
    flowId: z.string(),
    /** The flow's version; null for an unversioned flow file (resolved as the latest). */
    version: z.number().int().nullable(),
    /** The execution id of this frame: the root's id, `<parent>/<flowId>` for a sub-flow. */
    executionId: z.string(),
    /** The step to run next, or the pending step. */
    stepId: z.string(),
    variables: z.record(z.string(), z.unknown()),
    /** Variables the flow's own steps set (its default outputs). */
    setByFlow: z.array(z.string()),
    /** The branch of the last step that finished (the frame's branch if it stops on its deadline). */
    branch: z.string(),
    /** Steps this frame ran (its flow's `maxSteps`). */
    executed: z.number().int().nonnegative(),
    trace: z.array(z.custom<TraceEntry>((v) => typeof v === 'object' && v !== null)),
    /** This frame's deadline, epoch ms (the flow's own `deadlineMs` and every caller's deadline). */
    deadlineAt: z.number(),
    startedAt: z.number(),
    pending: PendingSchema.optional(),
  });

  /** What a suspended execution waits for, and what happens if nothing comes. */
  const WaitSchema = z.object({
    waitId: z.string().min(1),
    /** Epoch ms after which the wait times out. */
    until: z.number(),
    /** The branch the suspended step takes on timeout. */
    onTimeout: z.string().min(1),
    /** Each frame's time left when it suspended (ms): deadlines stop while waiting. */
    remainingMs: z.array(z.number()),
    /** Resumed by a callback (`POST /callbacks/{token}`), signed with this connection's webhook secret when it has one. */
    callback: z.object({ connection: z.string().optional() }).optional(),
    /** The waiting step's own state, handed back to its `resume`. */
    state: z.record(z.string(), z.unknown()).optional(),
  });

  /** How a wait ended. */
  const SettledSchema = z.object({ by: z.enum(['payload', 'timeout']), connection: z.string().optional() });

  /** An execution as plain JSON, version {@link SNAPSHOT_VERSION} (docs/architecture.md, "Durable executions"). */
  const SnapshotSchema = z.object({
    snapshotVersion: z.literal(SNAPSHOT_VERSION),
    executionId: z.string().min(1),
    status: ExecutionStatusSchema,
    /** The stack: `frames[0]` is the root flow, the last one runs. Empty once the execution ended. */
    frames: z.array(FrameSchema),
    counters: z.object({
      /** Steps run across all frames, and their limit (the root flow's `maxSteps`). */
      steps: z.number().int().nonnegative(),
      stepsLimit: z.number().int().positive(),
    }),
    /** Credentials the execution sent, redacted from what it returns (see redact.ts). */
    secrets: z.array(z.string()),
    wait: WaitSchema.optional(),
    /**
     * How each wait of the execution ended, by wait id: resumed with a payload or timed out (and the
     * callback connection, to check the signature of a duplicate delivery).
     */
    settled: z.record(z.string(), SettledSchema).optional(),
    /** The answer, once the execution ended. */
    result: z.custom<ExecutionResult>((v) => typeof v === 'object' && v !== null).optional(),
    /** Incremented by every stored change; stores write conditionally on it. */
    rev: z.number().int().nonnegative(),
  });
  return { FrameSchema, WaitSchema, SettledSchema, SnapshotSchema };
}
type Schemas = ReturnType<typeof buildSchemas>;
let schemas: Schemas | undefined;

/** One running flow on the stack (see {@link FrameSchema}). */
export type Frame = z.infer<Schemas['FrameSchema']>;
/** What a suspended execution waits for (see {@link WaitSchema}). */
export type Wait = z.infer<Schemas['WaitSchema']>;
/** How a wait ended: by a payload or by its timeout, and the callback's connection. */
export type Settled = z.infer<Schemas['SettledSchema']>;
/** An execution as plain JSON (see {@link SnapshotSchema}). */
export type ExecutionSnapshot = z.infer<Schemas['SnapshotSchema']>;

/** How long a caller should wait before polling a WAITING execution again, ms (at most; less when its wait ends sooner). */
export const POLL_AFTER_MS = 1000;

/**
 * Checks a stored snapshot.
 * @throws z.ZodError when it is not a snapshot of this version.
 */
export function parseSnapshot(value: unknown): ExecutionSnapshot {
  return (schemas ??= buildSchemas()).SnapshotSchema.parse(value);
}

/** The call's contact id: a frame's `contact_id` variable when it is a non-empty text, else undefined. */
export function contactIdIn(variables: Readonly<Record<string, unknown>>): string | undefined {
  const contactId = variables['contact_id'];
  return typeof contactId === 'string' && contactId !== '' ? contactId : undefined;
}

/** `{ contactId }` when a frame's variables hold a `contact_id` text, else nothing. */
export function contactIdOf(variables: Readonly<Record<string, unknown>>): { contactId?: string } {
  const contactId = contactIdIn(variables);
  return contactId === undefined ? {} : { contactId };
}

/**
 * The answer for a snapshot: its result once ended; while RUNNING or WAITING, the root's trace so
 * far with status WAITING (or RUNNING) and no outputs yet; a WAITING one also says when its wait
 * times out (`waitUntil`) and when to poll again (`pollAfterMs`).
 */
export function resultOf(snapshot: ExecutionSnapshot, nowMs: number): ExecutionResult {
  if (snapshot.result) return snapshot.result;
  const root = snapshot.frames[0]!;
  const secrets = new SecretRedactor();
  for (const value of snapshot.secrets) secrets.add(value);
  return secrets.redact({
    executionId: snapshot.executionId,
    flowId: root.flowId,
    flowVersion: root.version ?? 0,
    status: snapshot.status,
    branch: snapshot.status === 'WAITING' ? 'Waiting' : 'Running',
    variables: {},
    trace: root.trace,
    ...contactIdOf(root.variables),
    ...(snapshot.status === 'WAITING' && snapshot.wait ? { waitUntil: new Date(snapshot.wait.until).toISOString(), pollAfterMs: Math.max(0, Math.min(POLL_AFTER_MS, snapshot.wait.until - nowMs)) } : {}),
    startedAt: new Date(root.startedAt).toISOString(),
    durationMs: nowMs - root.startedAt,
  });
}
