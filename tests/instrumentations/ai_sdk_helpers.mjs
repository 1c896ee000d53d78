// Shared by the Vercel AI SDK tests: a stand-in of OpenAI's chat
// completions API on 127.0.0.1 (the same canned answers as
// stand_in_openai.py), the weather agent, and reading a run back from hive.
import http from 'node:http';
import assert from 'node:assert/strict';

export const FINAL_TEXT = 'It is sunny in Paris, 22 degrees.';
export const TOOL_RESULT = 'sunny, 22 degrees in Paris';
export const USAGE = {
  tool_call: { prompt_tokens: 30, completion_tokens: 8, total_tokens: 38 },
  final: { prompt_tokens: 45, completion_tokens: 10, total_tokens: 55 },
};

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with tests/instrumentations/run.sh`);
  return v;
}

/** Start the stand-in; resolves to { baseURL, requests, close }. */
export function startStandIn() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (status, obj) => {
        const data = JSON.stringify(obj);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
        res.end(data);
      };
      if (req.method !== 'POST' || !['/v1/chat/completions', '/chat/completions'].includes(req.url.split('?')[0])) {
        return send(404, { error: { message: `no route ${req.url}`, type: 'invalid_request_error' } });
      }
      const request = JSON.parse(body || '{}');
      if (request.stream) return send(400, { error: { message: 'the stand-in does not stream' } });
      requests.push(request);
      const messages = request.messages ?? [];
      let message, finish, usage;
      if (messages.some((m) => m.role === 'tool')) {
        message = { role: 'assistant', content: FINAL_TEXT };
        finish = 'stop';
        usage = USAGE.final;
      } else {
        message = {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
        };
        finish = 'tool_calls';
        usage = USAGE.tool_call;
      }
      send(200, {
        id: `chatcmpl-standin${requests.length}`,
        object: 'chat.completion',
        created: 1700000000,
        model: request.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
        usage,
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        baseURL: `http://127.0.0.1:${server.address().port}/v1`,
        requests,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

/** The Node SDK exporting to hive: spans with `traceExporter` (and a
 * recorder of their trace ids), logs and metrics over OTLP/HTTP JSON. The
 * metrics exporter's results are kept in `metricResults`. */
export async function nodeSdk(traceExporter) {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  const { BatchLogRecordProcessor } = await import('@opentelemetry/sdk-logs');
  const { PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-http');
  const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
  const headers = { authorization: `Bearer ${env('HIVE_KEY')}` };
  const recorder = traceRecorder();
  const metricExporter = new OTLPMetricExporter({ url: `${env('HIVE_URL')}/v1/metrics`, headers });
  const metricResults = [];
  const exportMetrics = metricExporter.export.bind(metricExporter);
  metricExporter.export = (metrics, done) => exportMetrics(metrics, (result) => {
    metricResults.push(result);
    done(result);
  });
  const sdk = new NodeSDK({
    serviceName: 'weather-agent',
    spanProcessors: [new BatchSpanProcessor({ exporter: traceExporter }), recorder],
    logRecordProcessors: [new BatchLogRecordProcessor({
      exporter: new OTLPLogExporter({ url: `${env('HIVE_URL')}/v1/logs`, headers }),
    })],
    metricReaders: [new PeriodicExportingMetricReader({ exporter: metricExporter })],
    instrumentations: [],
  });
  sdk.start();
  return { sdk, traces: recorder.traces, metricResults };
}

/** A span processor that remembers the trace ids of ended spans. */
export function traceRecorder() {
  const traces = new Set();
  return {
    traces,
    onStart() {},
    onEnd(span) { traces.add(span.spanContext().traceId); },
    forceFlush() { return Promise.resolve(); },
    shutdown() { return Promise.resolve(); },
  };
}

/** The weather agent: generateText with a tool, two steps. */
export async function weatherAgent(baseURL) {
  const { generateText, tool, stepCountIs } = await import('ai');
  const { createOpenAI } = await import('@ai-sdk/openai');
  const { z } = await import('zod');
  const openai = createOpenAI({ baseURL, apiKey: 'sk-stand-in' });
  return generateText({
    model: openai.chat('gpt-4o-mini'),
    system: 'You answer weather questions briefly.',
    prompt: 'What is the weather in Paris?',
    tools: {
      get_weather: tool({
        description: 'The current weather in a city.',
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => `sunny, 22 degrees in ${city}`,
      }),
    },
    stopWhen: stepCountIs(2),
    maxRetries: 0,
    telemetry: { functionId: 'weather-agent' },
  });
}

export function traceSession(traceId) {
  const t = traceId;
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-${t.slice(12, 16)}-${t.slice(16, 20)}-${t.slice(20, 32)}`;
}

export async function sessionEvents(sessionId) {
  const resp = await fetch(`${env('HIVE_URL')}/v1/events/export`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env('HIVE_KEY')}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      filters: [{ field: 'session_id', operator: 'is', value: sessionId, type: 'string' }],
      limit: 1000,
    }),
  });
  assert.equal(resp.status, 200, await resp.clone().text());
  return (await resp.json()).events;
}

export function args(call) {
  const a = call.function.arguments;
  return typeof a === 'string' ? JSON.parse(a) : a;
}

/** What every AI SDK run must show: the session's rollups, the two model
 * calls with their conversation and tokens, the tool call. */
export function assertWeatherRun(events, sessionId, { toolName }) {
  const summary = events.map((e) => [e.event_type, e.event_name, e.event_id, e.parent_id]);
  const byType = (t) => events.filter((e) => e.event_type === t);
  const [session] = byType('session');
  assert.ok(session, JSON.stringify(summary));
  assert.equal(session.event_id, sessionId);
  const md = session.metadata;
  assert.deepEqual([md.prompt_tokens, md.completion_tokens, md.total_tokens], [75, 18, 93], JSON.stringify(md));
  assert.equal(md.num_model_events, 2, JSON.stringify(summary));

  const models = byType('model').sort((a, b) => a.start_time - b.start_time);
  assert.equal(models.length, 2, JSON.stringify(summary));
  const [first, second] = models;
  for (const [e, u] of [[first, USAGE.tool_call], [second, USAGE.final]]) {
    assert.equal(e.config.model, 'gpt-4o-mini', JSON.stringify(e.config));
    assert.deepEqual([e.metadata.prompt_tokens, e.metadata.completion_tokens, e.metadata.total_tokens],
      [u.prompt_tokens, u.completion_tokens, u.total_tokens], JSON.stringify(e.metadata));
  }
  const h1 = first.inputs.chat_history;
  assert.deepEqual(h1.map((m) => [m.role, m.content]), [
    ['system', 'You answer weather questions briefly.'],
    ['user', 'What is the weather in Paris?'],
  ], JSON.stringify(h1));
  const [call] = first.outputs.tool_calls;
  assert.equal(call.function.name, 'get_weather');
  assert.equal(call.id, 'call_weather_1');
  assert.deepEqual(args(call), { city: 'Paris' });
  const h2 = second.inputs.chat_history;
  assert.deepEqual(h2.map((m) => m.role), ['system', 'user', 'assistant', 'tool'], JSON.stringify(h2));
  assert.equal(h2[2].tool_calls[0].function.name, 'get_weather');
  assert.equal(h2[3].tool_call_id, 'call_weather_1');
  assert.match(JSON.stringify(h2[3].content), /sunny, 22 degrees in Paris/);
  assert.equal(second.outputs.content, FINAL_TEXT);

  const tools = byType('tool');
  assert.equal(tools.length, 1, JSON.stringify(summary));
  const [toolEvent] = tools;
  assert.equal(toolEvent.event_name, toolName);
  // Every event is in the session, and the tree hangs together: every
  // parent is an event of the session.
  const ids = new Set(events.map((e) => e.event_id));
  for (const e of events) {
    assert.equal(e.session_id, sessionId);
    if (e.event_type !== 'session') assert.ok(ids.has(e.parent_id), `${e.event_name}: parent ${e.parent_id} missing`);
  }
  return { session, first, second, tool: toolEvent, byType };
}
