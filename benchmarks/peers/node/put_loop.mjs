// Peer "node_sdk": the AWS SDK for JavaScript v3 PutRecords loop a Node/TypeScript team would write.
//
// What it does: reads every stdin line first and turns each into its record before the clock
// starts (pre-built records, held in memory: the line's own bytes as the data, compact JSON as
// the Python peers send it when the input is compact, `identityMap.ecid[0].id` as partition key,
// falling back to the first id of the first namespace); then 8 workers each take up to 500
// records (at most 5 MiB counting data and keys) and call PutRecords, resubmitting only the
// entries whose result carries an ErrorCode, after an exponential backoff with full jitter,
// until none is left or the attempts are spent. The client talks HTTP/1.1 through
// `NodeHttpHandler` (the SDK otherwise defaults to HTTP/2, which the local endpoint does not
// speak). Prints the same one-line JSON summary as the Python peers, timed from the first put
// to the last answer, plus `put_cpu_s`: the process's CPU seconds over that same span.
//
//   node put_loop.mjs --endpoint-url URL --stream NAME [--region us-east-1]
//       [--concurrency 8] [--max-attempts 20] < events.ndjson
//
// What it leaves out: activation filtering and attribute selection, per-key order across
// retries, lingering, aggregation, any client-side rate limiting, and a dead-letter file.

import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const PEER = "node_sdk";
const MAX_RECORDS = 500;
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;
const MAX_RECORD_BYTES = 1024 * 1024;
const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 2000;

function parseArgs(argv) {
  const args = { region: "us-east-1", concurrency: 8, maxAttempts: 20, endpointUrl: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--endpoint-url") args.endpointUrl = value;
    else if (flag === "--stream") args.stream = value;
    else if (flag === "--region") args.region = value;
    else if (flag === "--concurrency") args.concurrency = Number(value);
    else if (flag === "--max-attempts") args.maxAttempts = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.stream) throw new Error("--stream is required");
  return args;
}

function partitionKey(event) {
  const map = event && typeof event === "object" ? event.identityMap : undefined;
  if (!map || typeof map !== "object") return undefined;
  let ids = map.ecid;
  if (!Array.isArray(ids) || ids.length === 0) ids = Object.values(map)[0];
  const id = Array.isArray(ids) && ids.length && ids[0] ? ids[0].id : undefined;
  return typeof id === "string" && id ? id : undefined;
}

function buildRecords(input, tally) {
  const records = [];
  let start = 0;
  while (start < input.length) {
    let end = input.indexOf(10, start);
    if (end < 0) end = input.length;
    const line = input.subarray(start, end);
    start = end + 1;
    const text = line.toString("utf8");
    if (!text.trim()) continue;
    tally.received += 1;
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      tally.failed += 1;
      continue;
    }
    const key = partitionKey(event);
    const data = Buffer.from(JSON.stringify(event));
    const size = data.length + Buffer.byteLength(key ?? "");
    if (key === undefined || size > MAX_RECORD_BYTES) {
      tally.failed += 1;
      continue;
    }
    records.push({ Data: data, PartitionKey: key, size });
  }
  return records;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function putUntilDone(client, stream, batch, tally, maxAttempts) {
  let pending = batch;
  for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
    if (attempt) await sleep(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
    tally.requests += 1;
    let reply;
    try {
      const Records = pending.map((r) => ({ Data: r.Data, PartitionKey: r.PartitionKey }));
      reply = await client.send(new PutRecordsCommand({ StreamName: stream, Records }));
    } catch (error) {
      process.stderr.write(`${PEER}: PutRecords failed for ${pending.length} records: ${error}\n`);
      break;
    }
    const results = reply.Records ?? [];
    if (results.length !== pending.length) {
      process.stderr.write(`${PEER}: ${results.length} results for ${pending.length} entries\n`);
      break;
    }
    const retry = [];
    results.forEach((result, i) => {
      if (result.ErrorCode) {
        tally.entryErrors[result.ErrorCode] = (tally.entryErrors[result.ErrorCode] ?? 0) + 1;
        retry.push(pending[i]);
      }
    });
    tally.sentOk += pending.length - retry.length;
    pending = retry;
    if (!pending.length) return;
  }
  tally.failed += pending.length;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tally = { received: 0, sentOk: 0, failed: 0, requests: 0, entryErrors: {} };
  const records = buildRecords(readFileSync(0), tally);
  const client = new KinesisClient({
    region: args.region,
    endpoint: args.endpointUrl,
    maxAttempts: 5,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: args.concurrency }),
    }),
  });
  let next = 0;
  const takeBatch = () => {
    const batch = [];
    let size = 0;
    while (next < records.length && batch.length < MAX_RECORDS) {
      const record = records[next];
      if (batch.length && size + record.size > MAX_REQUEST_BYTES) break;
      batch.push(record);
      size += record.size;
      next += 1;
    }
    return batch;
  };
  const worker = async () => {
    for (let batch = takeBatch(); batch.length; batch = takeBatch()) {
      await putUntilDone(client, args.stream, batch, tally, args.maxAttempts);
    }
  };
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const cpu = process.cpuUsage(cpuBefore);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  client.destroy();
  const diagnostics = {
    peer: PEER,
    requests: tally.requests,
    entry_errors: tally.entryErrors,
    records_per_s: elapsed > 0 ? Math.round(tally.sentOk / elapsed) : null,
  };
  process.stderr.write(`${JSON.stringify(diagnostics)}\n`);
  const summary = {
    peer: PEER,
    received: tally.received,
    sent_ok: tally.sentOk,
    failed: tally.failed,
    elapsed_s: Math.round(elapsed * 1e4) / 1e4,
    put_cpu_s: Math.round((cpu.user + cpu.system) / 1e2) / 1e4,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${PEER}: ${error?.stack ?? error}\n`);
  process.exit(1);
});
