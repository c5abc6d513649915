/** A flow's id: the rule every entry point checks (path parameters, Connect's `flowId`) without loading the flow schema. */
import * as z from 'zod';

/** 1–128 of `A-Z a-z 0-9 _ . -`. */
export const FlowId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ - . only');
