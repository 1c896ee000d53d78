//! Which attribute of which convention lands where: one table of rules for
//! the plain attributes, one for prefixes, then the conversation (which
//! needs code: messages come flattened, as JSON, or as span events), the
//! event type and the event name.
//!
//! Every rule only fills a key that is still empty, so `honeyhive_*`
//! attributes (unflattened before this runs) win, and within a key the
//! first attribute of a rule's list that the span has wins. Attributes no
//! rule names stay in the raw span only.
//!
//! Sources the tables follow: OpenTelemetry GenAI semantic conventions
//! (`docs/registry/attributes/gen-ai.md`, v1.41, and the deprecated
//! attributes), OpenInference `spec/semantic_conventions.md`, Traceloop
//! `opentelemetry-semantic-conventions-ai` (`SpanAttributes`) and the
//! Traceloop SDK's decorators, the Vercel AI SDK telemetry docs
//! (`ai.*`, both the legacy and the GenAI integration), Pydantic AI's
//! instrumentation, Strands Agents' tracer and Google ADK's tracing.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::content_events::{Conversation, event_fields, put_outputs};
use super::messages::{
    ai_sdk_tool_calls, from_ai_sdk, from_gemini, from_genai, gemini_content, json_structured,
    json_value, normalize_flat, system_instructions,
};
use crate::model::Event;
use crate::span::{AttrValue, Span};

/// A namespace of the event.
#[derive(Clone, Copy)]
enum Ns {
    Inputs,
    Outputs,
    Config,
    Metadata,
    UserProperties,
}

/// How an attribute's value is read.
#[derive(Clone, Copy)]
enum Read {
    /// As it is, with its type.
    Value,
    /// A number (numeric strings too).
    Number,
    /// A string holding JSON decoded (any JSON); other values as they are.
    Json,
    /// An array whose items are JSON strings, each decoded.
    JsonEach,
    /// Decoded as JSON; an object is spread into the namespace, anything
    /// else lands at the rule's key.
    Spread,
    /// A scalar made a one-item array (a single finish reason).
    List,
}

/// Which events a rule applies to.
#[derive(Clone, Copy, PartialEq)]
enum When {
    Always,
    /// Token counts: at the top of `metadata` for model events (so session
    /// rollups count them once), under `metadata.usage` for the others (an
    /// agent's or a workflow's totals would count its model calls twice).
    Tokens,
}

struct Rule {
    ns: Ns,
    key: &'static str,
    read: Read,
    when: When,
    from: &'static [&'static str],
}

const fn rule(ns: Ns, key: &'static str, read: Read, from: &'static [&'static str]) -> Rule {
    Rule {
        ns,
        key,
        read,
        when: When::Always,
        from,
    }
}

const fn tokens(key: &'static str, from: &'static [&'static str]) -> Rule {
    Rule {
        ns: Ns::Metadata,
        key,
        read: Read::Number,
        when: When::Tokens,
        from,
    }
}

use Ns::{Config, Inputs, Metadata, Outputs, UserProperties};
use Read::{Json, JsonEach, List, Number, Spread, Value as V};

/// The plain attributes.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    // Model and its settings.
    rule(Config, "model", V, &[
        "llm.model_name", "gen_ai.request.model", "llm.request.model_name", "embedding.model_name",
        "reranker.model_name", "ai.model.id", "gen_ai.response.model", "llm.response.model_name",
        "ai.response.model",
    ]),
    rule(Config, "provider", V, &[
        "llm.provider", "gen_ai.provider.name", "gen_ai.system", "llm.system", "ai.model.provider",
    ]),
    rule(Config, "invocation_parameters", Spread, &[
        "llm.invocation_parameters", "embedding.invocation_parameters",
    ]),
    rule(Config, "temperature", V, &["gen_ai.request.temperature"]),
    rule(Config, "max_tokens", V, &["gen_ai.request.max_tokens"]),
    rule(Config, "max_completion_tokens", V, &["gen_ai.request.max_completion_tokens"]),
    rule(Config, "top_p", V, &["gen_ai.request.top_p"]),
    rule(Config, "top_k", V, &["gen_ai.request.top_k", "reranker.top_k"]),
    rule(Config, "frequency_penalty", V, &["gen_ai.request.frequency_penalty"]),
    rule(Config, "presence_penalty", V, &["gen_ai.request.presence_penalty"]),
    rule(Config, "seed", V, &["gen_ai.request.seed", "gen_ai.openai.request.seed"]),
    rule(Config, "stop_sequences", V, &["gen_ai.request.stop_sequences"]),
    rule(Config, "choice_count", V, &["gen_ai.request.choice.count"]),
    rule(Config, "stream", V, &[
        "gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming",
    ]),
    rule(Config, "output_type", V, &["gen_ai.output.type"]),
    rule(Config, "encoding_formats", V, &["gen_ai.request.encoding_formats"]),
    rule(Config, "dimensions", V, &["gen_ai.embeddings.dimension.count"]),
    rule(Config, "reasoning_effort", V, &["gen_ai.request.reasoning_effort"]),
    rule(Config, "tools", Json, &["gen_ai.tool.definitions", "gen_ai.agent.tools"]),
    rule(Config, "tools", JsonEach, &["ai.prompt.tools"]),
    rule(Config, "tool_choice", Json, &["ai.prompt.toolChoice"]),
    rule(Config, "schema", Json, &["ai.schema"]),
    rule(Config, "schema_name", V, &["ai.schema.name"]),
    // Prompt templates.
    rule(Config, "template", V, &["llm.prompt_template.template", "traceloop.prompt.template"]),
    rule(Config, "template_version", V, &[
        "llm.prompt_template.version", "traceloop.prompt.version",
    ]),
    rule(Config, "prompt_name", V, &["gen_ai.prompt.name", "traceloop.prompt.key"]),
    rule(Inputs, "template_variables", Spread, &[
        "llm.prompt_template.variables", "traceloop.prompt.template_variables",
    ]),
    // Tool, retrieval and embedding inputs and outputs.
    rule(Inputs, "arguments", Spread, &[
        "gen_ai.tool.call.arguments", "ai.toolCall.args", "tool_call.function.arguments",
        "tool_arguments", "gcp.vertex.agent.tool_call_args",
    ]),
    rule(Outputs, "result", Spread, &[
        "gen_ai.tool.call.result", "ai.toolCall.result", "tool_response",
        "gcp.vertex.agent.tool_response",
    ]),
    rule(Inputs, "query", V, &["gen_ai.retrieval.query.text", "reranker.query"]),
    rule(Outputs, "documents", Json, &["gen_ai.retrieval.documents"]),
    rule(Inputs, "value", Json, &["ai.value"]),
    rule(Inputs, "values", JsonEach, &["ai.values"]),
    rule(Inputs, "documents", Json, &["ai.documents"]),
    rule(Outputs, "embedding", Json, &["ai.embedding"]),
    rule(Outputs, "embeddings", JsonEach, &["ai.embeddings"]),
    rule(Outputs, "ranking", Json, &["ai.ranking"]),
    rule(Outputs, "object", Json, &["ai.response.object", "ai.result.object"]),
    rule(Outputs, "function_call", Json, &["llm.function_call"]),
    // Traceloop entities: `{"args": [...], "kwargs": {...}}` in, the return value out.
    rule(Inputs, "value", Spread, &["traceloop.entity.input"]),
    rule(Outputs, "value", Spread, &["traceloop.entity.output", "final_result"]),
    // Response.
    rule(Metadata, "response_id", V, &["gen_ai.response.id", "ai.response.id"]),
    rule(Metadata, "response_model", V, &[
        "gen_ai.response.model", "ai.response.model", "llm.response.model_name",
    ]),
    rule(Metadata, "finish_reasons", V, &["gen_ai.response.finish_reasons"]),
    rule(Metadata, "finish_reasons", List, &[
        "ai.response.finishReason", "ai.finishReason", "llm.finish_reason", "gen_ai.response.finish_reason",
    ]),
    rule(Metadata, "cost", Number, &["llm.cost.total", "gen_ai.usage.cost"]),
    // Agents, workflows, tools.
    rule(Metadata, "agent_name", V, &["gen_ai.agent.name", "agent.name", "agent_name"]),
    rule(Metadata, "agent_id", V, &["gen_ai.agent.id"]),
    rule(Metadata, "agent_description", V, &["gen_ai.agent.description"]),
    rule(Metadata, "agent_version", V, &["gen_ai.agent.version"]),
    rule(Metadata, "workflow_name", V, &["gen_ai.workflow.name", "traceloop.workflow.name"]),
    rule(Metadata, "entity_path", V, &["traceloop.entity.path"]),
    rule(Metadata, "entity_version", V, &["traceloop.entity.version"]),
    rule(Metadata, "tool_name", V, &["gen_ai.tool.name", "ai.toolCall.name", "tool.name"]),
    rule(Metadata, "tool_call_id", V, &[
        "gen_ai.tool.call.id", "ai.toolCall.id", "tool_call.id", "tool.id",
    ]),
    rule(Metadata, "tool_description", V, &["gen_ai.tool.description", "tool.description"]),
    rule(Metadata, "tool_type", V, &["gen_ai.tool.type"]),
    rule(Metadata, "tool_parameters", Json, &["tool.parameters", "tool.json_schema"]),
    rule(Metadata, "tool_status", V, &["gen_ai.tool.status"]),
    rule(Metadata, "data_source_id", V, &["gen_ai.data_source.id"]),
    rule(Metadata, "function_id", V, &["ai.telemetry.functionId"]),
    rule(Metadata, "invocation_id", V, &["gcp.vertex.agent.invocation_id"]),
    rule(Metadata, "tags", V, &["tag.tags"]),
    rule(UserProperties, "user_id", V, &["user.id", "enduser.id"]),
    // Token counts (see `When::Tokens`).
    tokens("prompt_tokens", &[
        "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens",
        "ai.usage.tokens", "gen_ai.aggregated_usage.input_tokens",
    ]),
    tokens("completion_tokens", &[
        "llm.token_count.completion", "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens", "ai.usage.outputTokens",
        "ai.usage.completionTokens", "gen_ai.aggregated_usage.output_tokens",
    ]),
    tokens("total_tokens", &[
        "llm.token_count.total", "llm.usage.total_tokens", "gen_ai.usage.total_tokens",
        "ai.usage.totalTokens",
    ]),
    tokens("cache_read_input_tokens", &[
        "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.cache_read_input_tokens", "ai.usage.inputTokenDetails.cacheReadTokens",
        "ai.usage.cachedInputTokens", "gen_ai.aggregated_usage.cache_read.input_tokens",
    ]),
    tokens("cache_creation_input_tokens", &[
        "gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write",
        "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_write_input_tokens",
        "ai.usage.inputTokenDetails.cacheWriteTokens",
        "gen_ai.aggregated_usage.cache_creation.input_tokens",
    ]),
    tokens("reasoning_tokens", &[
        "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning",
        "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens", "ai.usage.reasoningTokens",
        "ai.usage.outputTokenDetails.reasoningTokens",
    ]),
];

/// Where the attributes under a prefix go: the rest of the key, as a
/// dotted path, in a namespace.
const PREFIXES: &[(&str, Ns)] = &[
    ("ai.telemetry.metadata.", Metadata),
    ("ai.settings.context.", Metadata),
    ("ai.settings.runtimeContext.", Metadata),
    ("ai.settings.", Config),
];

/// `traceloop.association.properties.*` keys Hive reads itself.
const ASSOCIATION_RESERVED: [&str; 4] = ["session_id", "project", "source", "parent_id"];

/// Association properties that describe the user (`user_properties`, as
/// HoneyHive keeps them); the others go to `metadata`.
fn is_user_property(name: &str) -> bool {
    name == "user_id" || name == "customer_id" || name.starts_with("user_")
}

fn ns_mut(ev: &mut Event, ns: Ns) -> &mut Map<String, Value> {
    match ns {
        Inputs => &mut ev.inputs,
        Outputs => &mut ev.outputs,
        Config => &mut ev.config,
        Metadata => &mut ev.metadata,
        UserProperties => &mut ev.user_properties,
    }
}

/// Set `value` at a dotted `path` unless something is there already.
fn put(ns: &mut Map<String, Value>, path: &str, value: Value) {
    let mut node = ns;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        if segments.peek().is_none() {
            node.entry(seg.to_owned()).or_insert(value);
            return;
        }
        let entry = node
            .entry(seg.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else { return };
        node = next;
    }
}

/// A number as JSON: whole numbers as integers.
pub(crate) fn json_num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Attribute key → (rule, position in the rule's list), built once.
fn rule_index() -> &'static HashMap<&'static str, Vec<(usize, usize)>> {
    static INDEX: OnceLock<HashMap<&'static str, Vec<(usize, usize)>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<&'static str, Vec<(usize, usize)>> = HashMap::new();
        for (r, rule) in RULES.iter().enumerate() {
            for (pos, key) in rule.from.iter().enumerate() {
                index.entry(key).or_default().push((r, pos));
            }
        }
        index
    })
}

/// For each rule, the value of the first attribute of its list that the
/// span has (the span's first attribute of that key): one pass over the
/// attributes, one lookup each.
fn rule_values(span: &Span) -> Vec<Option<(usize, &AttrValue)>> {
    let index = rule_index();
    let mut chosen: Vec<Option<(usize, &AttrValue)>> = vec![None; RULES.len()];
    for kv in &span.attributes {
        let Some(hits) = index.get(kv.key.as_str()) else {
            continue;
        };
        for &(r, pos) in hits {
            match chosen[r] {
                Some((best, _)) if best <= pos => {}
                _ => chosen[r] = Some((pos, &kv.value)),
            }
        }
    }
    chosen
}

/// Fill the namespaces of `ev` from the span's attributes and events.
/// `event_type` is the type the event ends up with.
pub(crate) fn apply(span: &Span, ev: &mut Event, event_type: &str) {
    let is_model = event_type == "model";
    for (rule, chosen) in RULES.iter().zip(rule_values(span)) {
        let Some((_, value)) = chosen else {
            continue;
        };
        let json = value.to_json();
        let value = match rule.read {
            Read::Value => json,
            Read::Number => match value.as_f64() {
                Some(f) => json_num(f),
                None => continue,
            },
            Read::Json => json_value(&json),
            Read::JsonEach => match json {
                Value::Array(items) => Value::Array(items.iter().map(json_value).collect()),
                other => json_value(&other),
            },
            Read::List => match json {
                Value::Array(a) => Value::Array(a),
                other => Value::Array(vec![other]),
            },
            Read::Spread => match json_value(&json) {
                Value::Object(obj) => {
                    let ns = ns_mut(ev, rule.ns);
                    for (k, v) in obj {
                        ns.entry(k).or_insert(v);
                    }
                    continue;
                }
                other => other,
            },
        };
        let path = match (rule.when, is_model) {
            (When::Tokens, false) => format!("usage.{}", rule.key),
            _ => rule.key.to_owned(),
        };
        put(ns_mut(ev, rule.ns), &path, value);
    }
    // A total from its parts when no total was given.
    let usage = if is_model {
        Some(&ev.metadata)
    } else {
        ev.metadata.get("usage").and_then(Value::as_object)
    };
    let total = usage
        .filter(|u| !u.contains_key("total_tokens"))
        .and_then(|u| {
            let part = |k: &str| u.get(k).and_then(Value::as_f64);
            Some(part("prompt_tokens")? + part("completion_tokens")?)
        });
    if let Some(total) = total {
        let path = if is_model {
            "total_tokens"
        } else {
            "usage.total_tokens"
        };
        put(&mut ev.metadata, path, json_num(total));
    }

    for kv in &span.attributes {
        if let Some(name) = kv.key.strip_prefix("traceloop.association.properties.") {
            if ASSOCIATION_RESERVED.contains(&name) {
                continue;
            }
            let ns = if is_user_property(name) {
                &mut ev.user_properties
            } else {
                &mut ev.metadata
            };
            put(ns, name, kv.value.to_json());
            continue;
        }
        for (prefix, ns) in PREFIXES {
            if let Some(rest) = kv.key.strip_prefix(prefix) {
                if !rest.is_empty() {
                    put(ns_mut(ev, *ns), rest, kv.value.to_json());
                }
                break;
            }
        }
    }
    if let Some(AttrValue::Str(s)) = span.attr("metadata")
        && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s)
    {
        for (k, v) in m {
            ev.metadata.entry(k).or_insert(v);
        }
    }
    if let Some(AttrValue::Str(s)) = span.attr("gcp.vertex.agent.llm_request")
        && let Ok(Value::Object(req)) = serde_json::from_str::<Value>(s)
        && let Some(Value::Object(cfg)) = req.get("config")
    {
        for (k, v) in cfg {
            if k != "system_instruction" {
                ev.config.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }

    conversation(span, ev);
    generic_values(span, ev);
}

/// `inputs.chat_history` and the answer in `outputs`, from the first
/// convention the span speaks.
fn conversation(span: &Span, ev: &mut Event) {
    let attr = |k: &str| span.attr(k).map(AttrValue::to_json);

    // Input messages.
    let mut history: Vec<Value> = Vec::new();
    if let Some(v) = attr("gen_ai.system_instructions").and_then(|v| system_instructions(&v)) {
        history.push(v);
    }
    // The first convention that gives any messages (each tried only when
    // those before it gave none).
    type Candidate<'a> = &'a dyn Fn() -> Option<Vec<Value>>;
    let first = |candidates: &[Candidate<'_>]| -> Vec<Value> {
        candidates
            .iter()
            .filter_map(|c| c())
            .find(|m| !m.is_empty())
            .unwrap_or_default()
    };
    let inputs = first(&[
        &|| attr("gen_ai.input.messages").map(|v| from_genai(&v)),
        &|| Some(flattened(span, "llm.input_messages.")),
        &|| Some(flattened(span, "gen_ai.prompt.")),
        &|| attr("ai.prompt.messages").map(|v| from_ai_sdk(&v)),
        &|| attr("ai.prompt").map(|v| ai_prompt(&v)),
        &|| attr("pydantic_ai.all_messages").map(|v| from_genai(&v)),
        &|| attr("gcp.vertex.agent.llm_request").map(|v| adk_request(&v)),
        &|| attr("gen_ai.prompt").map(|v| legacy_list(&v)),
    ]);
    history.extend(inputs);

    // Output messages.
    let output = first(&[
        &|| attr("gen_ai.output.messages").map(|v| from_genai(&v)),
        &|| Some(flattened(span, "llm.output_messages.")),
        &|| Some(flattened(span, "gen_ai.completion.")),
        &|| ai_response(span),
        &|| attr("gcp.vertex.agent.llm_response").map(|v| adk_response(&v)),
        &|| attr("gen_ai.completion").map(|v| legacy_list(&v)),
    ]);

    // Content events on the span fill what the attributes did not.
    let mut events = Conversation::default();
    for e in &span.events {
        events.add(&e.name, &event_fields(None, &e.attributes));
    }
    let (event_history, event_output) = events.into_parts();
    let history = if history.is_empty() {
        event_history
    } else {
        history
    };
    let output = if output.is_empty() {
        event_output
    } else {
        output
    };

    if !history.is_empty() {
        ev.inputs
            .entry("chat_history")
            .or_insert(Value::Array(history));
    }
    put_outputs(output, &mut ev.outputs);

    // OpenInference tools offered to the model.
    let tools = flattened_values(span, "llm.tools.", "tool.json_schema");
    if !tools.is_empty() {
        put(
            &mut ev.config,
            "tools",
            Value::Array(tools.iter().map(json_value).collect()),
        );
    }
    // OpenInference legacy completions.
    let prompts = flattened_values(span, "llm.prompts.", "prompt.text");
    match prompts.len() {
        0 => {}
        1 => put(&mut ev.inputs, "prompt", prompts[0].clone()),
        _ => put(&mut ev.inputs, "prompts", Value::Array(prompts)),
    }
    let choices = flattened_values(span, "llm.choices.", "completion.text");
    match choices.len() {
        0 => {}
        1 => put(&mut ev.outputs, "content", choices[0].clone()),
        _ => put(&mut ev.outputs, "choices", Value::Array(choices)),
    }
    // OpenInference documents and embeddings.
    for (prefix, ns, key) in [
        ("retrieval.documents.", Outputs, "documents"),
        ("reranker.input_documents.", Inputs, "documents"),
        ("reranker.output_documents.", Outputs, "documents"),
    ] {
        let docs = documents(span, prefix);
        if !docs.is_empty() {
            put(ns_mut(ev, ns), key, Value::Array(docs));
        }
    }
    let embeddings = indexed(span, "embedding.embeddings.");
    if !embeddings.is_empty() {
        let items: Vec<Value> = embeddings
            .into_iter()
            .map(|e| e.get("embedding").cloned().unwrap_or(e))
            .collect();
        let texts: Vec<Value> = items
            .iter()
            .filter_map(|e| e.get("text").cloned())
            .collect();
        if !texts.is_empty() {
            put(&mut ev.inputs, "texts", Value::Array(texts));
        }
        put(&mut ev.outputs, "embeddings", Value::Array(items));
    }
}

/// OpenInference `input.value` / `output.value` when nothing more specific
/// filled the namespace.
fn generic_values(span: &Span, ev: &mut Event) {
    for (value_key, mime_key, is_input) in [
        ("input.value", "input.mime_type", true),
        ("output.value", "output.mime_type", false),
    ] {
        let Some(text) = span.attr_str(value_key) else {
            continue;
        };
        let ns = if is_input {
            &mut ev.inputs
        } else {
            &mut ev.outputs
        };
        // An answer already spread into `outputs` (its content, its tool
        // calls, several messages) is the output: the raw value would only
        // repeat it (OpenInference's `output.value` is the whole response).
        if is_input && ns.contains_key("chat_history")
            || !is_input
                && ["content", "messages", "tool_calls", "role"]
                    .iter()
                    .any(|k| ns.contains_key(*k))
        {
            continue;
        }
        let json_mime = span.attr_str(mime_key).is_some_and(|m| m.contains("json"));
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(obj)) if json_mime => {
                for (k, v) in obj {
                    ns.entry(k).or_insert(v);
                }
            }
            Ok(other) if json_mime => put(ns, "value", other),
            _ => put(ns, "value", Value::String(text)),
        }
    }
}

/// Collect `<prefix><i>.<path>` attributes into index-ordered objects.
fn indexed(span: &Span, prefix: &str) -> Vec<Value> {
    let mut tree = Map::new();
    for kv in &span.attributes {
        if let Some(rest) = kv.key.strip_prefix(prefix)
            && rest
                .split('.')
                .next()
                .is_some_and(|i| i.parse::<usize>().is_ok())
        {
            super::insert_path(&mut tree, rest, kv.value.to_json());
        }
    }
    let mut items: Vec<(usize, Value)> = super::arrays_from_index_keys(tree)
        .into_iter()
        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
        .collect();
    items.sort_by_key(|(i, _)| *i);
    items.into_iter().map(|(_, v)| v).collect()
}

/// Flattened messages (`<prefix><i>.message.<field>` or
/// `<prefix><i>.<field>`), normalised.
fn flattened(span: &Span, prefix: &str) -> Vec<Value> {
    indexed(span, prefix)
        .into_iter()
        .map(|m| match m {
            Value::Object(mut o) if o.len() == 1 && o.contains_key("message") => {
                o.remove("message").unwrap_or_default()
            }
            other => other,
        })
        .map(normalize_flat)
        .collect()
}

/// `<prefix><i>.<a>.<b>` values in index order.
fn flattened_values(span: &Span, prefix: &str, path: &str) -> Vec<Value> {
    indexed(span, prefix)
        .into_iter()
        .filter_map(|item| {
            path.split('.')
                .try_fold(&item, |node, seg| node.get(seg))
                .cloned()
        })
        .collect()
}

/// OpenInference documents: `{id, content, score, metadata}` (metadata
/// decoded when it is JSON).
fn documents(span: &Span, prefix: &str) -> Vec<Value> {
    indexed(span, prefix)
        .into_iter()
        .map(|d| {
            let mut d = match d {
                Value::Object(mut o) if o.contains_key("document") => {
                    o.remove("document").unwrap_or_default()
                }
                other => other,
            };
            if let Some(meta) = d.get_mut("metadata") {
                *meta = json_structured(meta);
            }
            d
        })
        .collect()
}

/// The deprecated single `gen_ai.prompt` / `gen_ai.completion` attribute:
/// JSON messages, or text.
fn legacy_list(v: &Value) -> Vec<Value> {
    match json_structured(v) {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            items.into_iter().map(normalize_flat).collect()
        }
        _ => Vec::new(),
    }
}

/// The AI SDK's `ai.prompt`: `{system?, prompt?, messages?}` as JSON.
fn ai_prompt(v: &Value) -> Vec<Value> {
    let Value::Object(p) = json_value(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(sys) = p.get("system").and_then(system_instructions) {
        out.push(sys);
    }
    match p.get("prompt") {
        Some(Value::String(s)) => out.push(serde_json::json!({"role": "user", "content": s})),
        Some(v @ Value::Array(_)) => out.extend(from_ai_sdk(v)),
        _ => {}
    }
    if let Some(m) = p.get("messages") {
        out.extend(from_ai_sdk(m));
    }
    out
}

/// The AI SDK's answer: `ai.response.text`, `ai.response.toolCalls`,
/// `ai.response.reasoning`, `ai.response.finishReason` (before AI SDK 4:
/// `ai.result.text`, `ai.result.toolCalls`, `ai.finishReason`) as one
/// message.
fn ai_response(span: &Span) -> Option<Vec<Value>> {
    let first = |keys: [&str; 2]| keys.iter().find_map(|k| span.attr(k));
    let text = first(["ai.response.text", "ai.result.text"]).map(AttrValue::to_json);
    let calls = first(["ai.response.toolCalls", "ai.result.toolCalls"])
        .map(|v| ai_sdk_tool_calls(&v.to_json()))
        .filter(|c| !c.is_empty());
    if text.is_none() && calls.is_none() {
        return None;
    }
    let mut m = Map::new();
    m.insert("role".into(), "assistant".into());
    m.insert("content".into(), text.unwrap_or(Value::Null));
    if let Some(r) = span.attr_str("ai.response.reasoning") {
        m.insert("reasoning".into(), Value::String(r));
    }
    if let Some(calls) = calls {
        m.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(reason) =
        first(["ai.response.finishReason", "ai.finishReason"]).and_then(AttrValue::as_text)
    {
        m.insert("finish_reason".into(), Value::String(reason));
    }
    Some(vec![Value::Object(m)])
}

/// Google ADK's `gcp.vertex.agent.llm_request`: `{model, config:
/// {system_instruction, ...}, contents: [Content]}`.
fn adk_request(v: &Value) -> Vec<Value> {
    let Value::Object(req) = json_value(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match req.get("config").and_then(|c| c.get("system_instruction")) {
        Some(Value::String(s)) if !s.is_empty() => {
            out.push(serde_json::json!({"role": "system", "content": s}));
        }
        Some(content @ Value::Object(_)) => {
            for mut m in gemini_content(content) {
                m["role"] = "system".into();
                out.push(m);
            }
        }
        _ => {}
    }
    if let Some(contents) = req.get("contents") {
        out.extend(from_gemini(contents));
    }
    out
}

/// Google ADK's `gcp.vertex.agent.llm_response`: `{content, finish_reason, ...}`.
fn adk_response(v: &Value) -> Vec<Value> {
    let Value::Object(resp) = json_value(v) else {
        return Vec::new();
    };
    let Some(content) = resp.get("content") else {
        return Vec::new();
    };
    let mut msgs = gemini_content(content);
    if let (Some(Value::Object(m)), Some(reason)) = (msgs.first_mut(), resp.get("finish_reason")) {
        m.insert("finish_reason".into(), reason.clone());
    }
    msgs
}
