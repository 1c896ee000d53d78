// The Vercel AI SDK's OpenTelemetry integration (@ai-sdk/otel, GenAI
// conventions) through OpenTelemetry's Node SDK, exporting OTLP/HTTP JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerTelemetry } from 'ai';
import { OpenTelemetry } from '@ai-sdk/otel';
import {
  env, startStandIn, nodeSdk, weatherAgent, traceSession, sessionEvents, assertWeatherRun, FINAL_TEXT,
} from './ai_sdk_helpers.mjs';

test('AI SDK with @ai-sdk/otel over OTLP/HTTP JSON', async () => {
  const standIn = await startStandIn();
  const { sdk, traces, metricResults } = await nodeSdk(new OTLPTraceExporter({
    url: `${env('HIVE_URL')}/v1/traces`,
    headers: { authorization: `Bearer ${env('HIVE_KEY')}` },
  }));
  registerTelemetry(new OpenTelemetry());
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
  // The integration records GenAI metrics: hive answers them (not kept)
  // without an error the exporter would report.
  assert.ok(metricResults.length > 0, 'no metrics were exported');
  for (const r of metricResults) assert.equal(r.code, 0, String(r.error));
  const sid = traceSession(traceId);
  const events = await sessionEvents(sid);
  const run = assertWeatherRun(events, sid, { toolName: 'execute_tool get_weather' });
  // The tree: the agent under the session, a step per model call under
  // it, each model call in its step, the tool call in the first step.
  const chains = run.byType('chain');
  const root = chains.find((e) => e.parent_id === sid);
  assert.ok(root, JSON.stringify(events.map((e) => [e.event_type, e.event_name, e.parent_id])));
  assert.equal(root.metadata.agent_name, 'weather-agent');
  assert.deepEqual(root.metadata.usage, {
    prompt_tokens: 75, completion_tokens: 18, total_tokens: 93, cache_read_input_tokens: 0,
  });
  const steps = chains.filter((e) => e.parent_id === root.event_id).sort((a, b) => a.start_time - b.start_time);
  assert.deepEqual(steps.map((e) => e.event_name), ['step 1', 'step 2']);
  assert.equal(run.first.parent_id, steps[0].event_id);
  assert.equal(run.tool.parent_id, steps[0].event_id);
  assert.equal(run.second.parent_id, steps[1].event_id);
  assert.equal(run.first.config.provider, 'openai');
  assert.equal(run.first.config.tools[0].name, 'get_weather');
  assert.deepEqual(run.tool.inputs, { city: 'Paris' });
  assert.deepEqual(run.tool.outputs, { result: 'sunny, 22 degrees in Paris' });
});
