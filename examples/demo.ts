/**
 * `npm run demo`: starts the sample CRM on 127.0.0.1, runs the Customer Lookup IVR flow (and its
 * integration sub-flow) for a few callers over real HTTP, and prints each trace.
 */
import { fileURLToPath } from 'node:url';
import { folderResolver } from '#shared/flow/files';
import { formatResult } from '../cli/format';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import { NodeHttpClient } from '#shared/http/client';
import { DEMO_API_KEY, startCrmServer } from './backends/crm-server';

const CALLERS = [
  { label: 'known PLATINUM caller (found, ticket opened)', dtmf: '2125551234' },
  { label: 'unknown caller (CRM answers {"data": []})', dtmf: '3125550000' },
  { label: 'CRM failing with 503 (retried, then error router)', dtmf: '2125550503' },
  { label: 'caller keyed a short number (validation flag false, no HTTP call)', dtmf: '12345' },
];

const crm = await startCrmServer();
const http = new NodeHttpClient({ allowPrivateNetworks: true });
try {
  const { resolve } = await folderResolver(fileURLToPath(new URL('./flows', import.meta.url)), true);
  const flow = await resolve('customer-lookup-ivr');
  if (!flow) throw new Error('examples/flows/customer-lookup-ivr.json did not load');
  console.log(`sample CRM listening on ${crm.url}\n`);
  for (const caller of CALLERS) {
    const result = await runFlow(flow, { variables: { dtmf_input: caller.dtmf, crm_base_url: crm.url, api_key_variable: DEMO_API_KEY } }, { clock: systemClock, randomness: systemRandomness, http, resolveFlow: resolve });
    console.log(`=== ${caller.label}: dtmf_input=${caller.dtmf}`);
    console.log(`${formatResult(result)}\n`);
  }
  console.log(`CRM requests received: ${JSON.stringify(Object.fromEntries(crm.hits))}`);
} finally {
  http.close();
  await crm.close();
}
