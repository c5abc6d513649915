/** zod building blocks shared by step schemas. */
import * as z from 'zod';

/** Step ids: letters, digits, `_ - . :`, up to 128 characters. */
export const StepId = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits, _ - . : only'),
);

/** Variable names: identifiers usable in expressions. */
export const VariableName = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an identifier (letters, digits, _; not starting with a digit)'),
);

/** An expression of the language (checked at validation). */
export const Expression = z.lazy(() => z.string().min(1).max(4096));

/** A string that may contain `{{ expr }}` references. */
export const Template = z.lazy(() => z.string().max(65536));
