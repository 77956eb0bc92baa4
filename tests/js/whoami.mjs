// The AWS SDK for JavaScript v3 as a user would run it: profile from AWS_PROFILE, STS
// endpoint from AWS_ENDPOINT_URL_STS (or --endpoint URL), region us-east-1.
//
//   node whoami.mjs [chain|process] [--endpoint URL]
//
// chain (default): no credentials option, so the SDK's default provider chain finds the
// profile's credential_process. process: fromProcess() from @aws-sdk/credential-providers.
// Either way the SDK runs credential_process with child_process.exec, whose stdin is a
// pipe that is never closed. Prints {"Arn", "Account", "AccessKeyId"} as one JSON line;
// on failure prints the SDK's error message on stderr and exits 1.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromProcess } from "@aws-sdk/credential-providers";

const args = process.argv.slice(2);
const mode = args[0] && !args[0].startsWith("--") ? args.shift() : "chain";
const endpointAt = args.indexOf("--endpoint");
const endpoint = endpointAt >= 0 ? args[endpointAt + 1] : undefined;
if (!["chain", "process"].includes(mode)) {
  console.error(`whoami.mjs: unknown mode ${mode}`);
  process.exit(2);
}

const config = { region: "us-east-1", maxAttempts: 1 };
if (endpoint) config.endpoint = endpoint;
if (mode === "process") config.credentials = fromProcess();
const client = new STSClient(config);

try {
  const identity = await client.send(new GetCallerIdentityCommand({}));
  // The client memoizes its credentials: this is the key that signed the call above.
  const credentials = await client.config.credentials();
  console.log(
    JSON.stringify({
      Arn: identity.Arn,
      Account: identity.Account,
      AccessKeyId: credentials.accessKeyId,
    }),
  );
} catch (error) {
  console.error(`${error.name}: ${error.message}`);
  process.exit(1);
}
