//! The event type and name of a span from the conventions: GenAI
//! operation, OpenInference span kind, Traceloop span kind, Vercel AI SDK
//! operation id; and a specific name when the span's name is generic.

use crate::span::Span;

/// `gen_ai.operation.name` values and the event type they give.
const OPERATIONS: &[(&str, &str)] = &[
    ("chat", "model"),
    ("text_completion", "model"),
    ("generate_content", "model"),
    ("embeddings", "model"),
    ("execute_tool", "tool"),
    ("retrieval", "tool"),
    ("rerank", "tool"),
    ("invoke_agent", "chain"),
    ("create_agent", "chain"),
    ("invoke_workflow", "chain"),
    // Vercel AI SDK's step spans, Strands' event loop cycles.
    ("agent_step", "chain"),
    ("execute_event_loop_cycle", "chain"),
];

/// The Vercel AI SDK's `ai.operationId` values (legacy spans).
const AI_SDK_OPERATIONS: &[(&str, &str)] = &[
    ("ai.generateText", "chain"),
    ("ai.streamText", "chain"),
    ("ai.generateObject", "chain"),
    ("ai.streamObject", "chain"),
    ("ai.embed", "chain"),
    ("ai.embedMany", "chain"),
    ("ai.rerank", "chain"),
    ("ai.generateText.doGenerate", "model"),
    ("ai.streamText.doStream", "model"),
    ("ai.generateObject.doGenerate", "model"),
    ("ai.streamObject.doStream", "model"),
    ("ai.embed.doEmbed", "model"),
    ("ai.embedMany.doEmbed", "model"),
    ("ai.rerank.doRerank", "tool"),
    ("ai.toolCall", "tool"),
];

/// The event type when the span does not state one: GenAI operation,
/// OpenInference span kind, Traceloop span kind, AI SDK operation, model
/// attributes; `tool` otherwise.
pub fn infer_event_type(span: &Span) -> String {
    let op = span.attr_str("gen_ai.operation.name");
    if let Some(op) = &op {
        if let Some((_, t)) = OPERATIONS.iter().find(|(o, _)| o == op) {
            return (*t).into();
        }
        // Strands: invoke_swarm, invoke_graph.
        if op.starts_with("invoke_") {
            return "chain".into();
        }
    }
    if let Some(kind) = span.attr_str("openinference.span.kind") {
        return match kind.to_ascii_uppercase().as_str() {
            "LLM" | "EMBEDDING" => "model",
            "CHAIN" | "AGENT" => "chain",
            _ => "tool",
        }
        .into();
    }
    if let Some(kind) = span.attr_str("traceloop.span.kind") {
        return match kind.as_str() {
            "workflow" | "agent" | "task" => "chain",
            _ => "tool",
        }
        .into();
    }
    if let Some(id) = span.attr_str("ai.operationId")
        && let Some((_, t)) = AI_SDK_OPERATIONS.iter().find(|(o, _)| *o == id)
    {
        return (*t).into();
    }
    const MODEL_KEYS: [&str; 3] = ["gen_ai.request.model", "llm.model_name", "llm.request.type"];
    // An unknown operation with a provider (Strands puts `gen_ai.system` on
    // every span) is not a model call by that alone.
    if MODEL_KEYS.iter().any(|k| span.attr(k).is_some())
        || op.is_none() && span.attr("gen_ai.system").is_some()
    {
        return "model".into();
    }
    "tool".into()
}

/// Span names that say what kind of step it is, not which one.
const GENERIC_NAMES: [&str; 6] = [
    "running tool",
    "running tools",
    "running output function",
    "agent run",
    "call_llm",
    "ai.toolCall",
];

/// A better event name than a generic span name (`execute_tool`, `chat`,
/// `running tool`, `ai.toolCall`...): the tool's, the agent's or the
/// model's name.
pub(crate) fn specific_name(span: &Span, event_type: &str) -> Option<String> {
    let name = span.name.trim();
    let op = span.attr_str("gen_ai.operation.name");
    let generic = name.is_empty() || GENERIC_NAMES.contains(&name) || op.as_deref() == Some(name);
    if !generic {
        return None;
    }
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| span.attr_str(k))
            .filter(|s| !s.is_empty())
    };
    match event_type {
        "tool" => first(&["gen_ai.tool.name", "ai.toolCall.name", "tool.name"]),
        "chain" => first(&["gen_ai.agent.name", "agent.name", "agent_name"]),
        "model" => {
            let model = first(&["gen_ai.request.model", "llm.model_name", "ai.model.id"])?;
            Some(match op {
                Some(op) => format!("{op} {model}"),
                None => model,
            })
        }
        _ => None,
    }
}
