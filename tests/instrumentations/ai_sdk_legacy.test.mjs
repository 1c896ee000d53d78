// The Vercel AI SDK's LegacyOpenTelemetry integration (the `ai.*`
// attributes of earlier releases) through OpenTelemetry's Node SDK,
// exporting OTLP/HTTP protobuf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerTelemetry } from 'ai';
import { LegacyOpenTelemetry } from '@ai-sdk/otel';
import {
  env, startStandIn, nodeSdk, weatherAgent, traceSession, sessionEvents, assertWeatherRun, FINAL_TEXT,
} from './ai_sdk_helpers.mjs';

test('AI SDK with LegacyOpenTelemetry over OTLP/HTTP protobuf', async () => {
  const standIn = await startStandIn();
  const { sdk, traces, metricResults } = await nodeSdk(new OTLPTraceExporter({
    url: `${env('HIVE_URL')}/v1/traces`,
    headers: { authorization: `Bearer ${env('HIVE_KEY')}` },
  }));
  registerTelemetry(new LegacyOpenTelemetry());
  try {
    const result = await weatherAgent(standIn.baseURL);
    assert.equal(result.text, FINAL_TEXT);
  } finally {
    await sdk.shutdown();
    await standIn.close();
  }
  assert.equal(standIn.requests.length, 2);
  assert.equal(traces.size, 1);
  const [traceId] = traces;
  // Metrics, when there were any, were answered without an error.
  for (const r of metricResults) assert.equal(r.code, 0, String(r.error));
  const sid = traceSession(traceId);
  const events = await sessionEvents(sid);
  const run = assertWeatherRun(events, sid, { toolName: 'get_weather' });
  const root = run.byType('chain').find((e) => e.parent_id === sid);
  assert.ok(root, JSON.stringify(events.map((e) => [e.event_type, e.event_name, e.parent_id])));
  assert.equal(root.event_name, 'ai.generateText');
  assert.equal(root.metadata.function_id, 'weather-agent');
  assert.equal(root.outputs.content, FINAL_TEXT, JSON.stringify(root.outputs));
  assert.deepEqual(root.metadata.usage, {
    prompt_tokens: 75, completion_tokens: 18, total_tokens: 93, cache_read_input_tokens: 0, reasoning_tokens: 0,
  });
  // The model calls under the generateText call, the tool under the model
  // call that asked for it.
  assert.equal(run.first.parent_id, root.event_id);
  assert.equal(run.second.parent_id, root.event_id);
  assert.equal(run.first.event_name, 'ai.generateText.doGenerate');
  assert.equal(run.tool.parent_id, run.first.event_id);
  assert.equal(run.first.config.provider, 'openai.chat');
  assert.deepEqual(run.tool.inputs, { city: 'Paris' });
  assert.deepEqual(run.tool.outputs, { result: 'sunny, 22 degrees in Paris' });
});
