// The AWS SDK for JavaScript v3 as the command of `credproc exec --server`: N calls, each
// with a new client (so a new default provider chain, which finds the container endpoint),
// PAUSE seconds apart. STS endpoint from AWS_ENDPOINT_URL_STS, region us-east-1.
//
//   node renewals.mjs N PAUSE
//
// Prints {"Arn", "AccessKeyId"} as one JSON line per call; on failure prints the SDK's error
// message on stderr and exits 1.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const [times, pause] = [Number(process.argv[2] ?? 2), Number(process.argv[3] ?? 0)];

try {
  for (let call = 0; call < times; call++) {
    if (call > 0) await new Promise((resolve) => setTimeout(resolve, pause * 1000));
    const client = new STSClient({ region: "us-east-1", maxAttempts: 1 });
    const identity = await client.send(new GetCallerIdentityCommand({}));
    const credentials = await client.config.credentials();
    console.log(JSON.stringify({ Arn: identity.Arn, AccessKeyId: credentials.accessKeyId }));
  }
} catch (error) {
  console.error(`${error.name}: ${error.message}`);
  process.exit(1);
}
