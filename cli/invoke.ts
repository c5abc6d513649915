/**
 * `ivrflow invoke <function> --event <file.json> [--endpoint URL]`: invokes a function with an
 * event through the Lambda Invoke API, with the real `@aws-sdk/client-lambda` — by default the
 * local one `ivrflow serve` answers (`http://127.0.0.1:3000`), or AWS when `--endpoint aws` (the
 * function name is then the deployed function's name or ARN). Prints the function's answer as
 * JSON. Exit code 0 on an answer, 1 when the function failed (its error printed), 2 on bad arguments.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { LOCAL_AWS } from '#shared/local/dynamodb-local';
import { readJsonFile } from '#shared/flow/files';

export async function invokeCommand(name: string, values: { event: string; endpoint?: string }, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const read = readJsonFile(values.event);
  if (read.error) {
    err(`${values.event}: ${read.error.message}`);
    return 2;
  }
  const endpoint = values.endpoint ?? 'http://127.0.0.1:3000';
  const client = endpoint === 'aws' ? new LambdaClient({}) : new LambdaClient({ ...LOCAL_AWS, endpoint });
  try {
    const res = await client.send(new InvokeCommand({ FunctionName: name, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(read.value)) }));
    const text = res.Payload ? Buffer.from(res.Payload).toString('utf8') : 'null';
    if (res.FunctionError) {
      err(`${name} failed (${res.FunctionError}): ${text}`);
      return 1;
    }
    out(text);
    return 0;
  } finally {
    client.destroy();
  }
}
