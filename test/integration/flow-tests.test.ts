/** Every example's flow test cases (`examples/**\/*.test.json`), one vitest test per case, through the package's testing entry. */
import { flowTests } from '#shared/testing/vitest';

flowTests('examples');
