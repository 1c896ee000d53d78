//! Every example of the "Session Enrichment" guide, in Rust.
//!
//! Run against a local server:
//! `HH_API_KEY=hh_... HH_API_URL=http://127.0.0.1:8080 cargo run -p honeyhive --example session_enrichment`
//!
//! Each example prints `SESSION <label> <session id>`.

mod common;

use std::time::{Duration, Instant};

use common::{Completion, Usage, assistant, chat_completion, now_iso, report, user};
use honeyhive::{HoneyHiveTracer, enrich_session};

/// A short random suffix, so the documents' fixed ids stay unique per run.
fn suffix() -> String {
    uuid_suffix()
}

fn uuid_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", t % 0xffff_ffff)
}

// ----- Basic usage: enrich the active session -----

fn basic_usage() -> HoneyHiveTracer {
    // Initialize tracer (creates a session automatically)
    let tracer = HoneyHiveTracer::builder()
        .with_project("my-app")
        .with_session_name("user-123-chat")
        .build();

    // Enrich the active session
    enrich_session!(metadata = {
        "user_id": "user_123",
        "subscription_tier": "premium",
        "feature": "chat_assistant"
    });

    // All subsequent traces in this session are associated with this metadata
    chat_completion("gpt-3.5-turbo", &[user("Hello!")], 1.0);
    report("basic", tracer.session_id());
    tracer
}

// ----- Enrich a specific session -----

fn enrich_specific_session() -> String {
    let session_id = format!("sess_abc123xyz-{}", suffix());
    enrich_session!(
        session_id = session_id,
        metadata = {"experiment": "variant_b", "completed": true},
        metrics = {"total_tokens": 1500, "total_cost": 0.045, "duration_seconds": 12.5}
    );
    report("specific", &session_id);
    session_id
}

// ----- Backwards compatible signatures -----

fn legacy_signatures() {
    let session_id = format!("sess_abc123-{}", suffix());
    // Old style: positional session_id (a literal in the macro, or `session_id = ...`)
    enrich_session!(session_id = session_id, metadata = {"user_id": "user_456"});
    // Old style: user_properties parameter -> stored as its own field
    enrich_session!(
        session_id = session_id,
        user_properties = {"tier": "premium", "region": "us-east"}
    );
    report("legacy", &session_id);

    // The literal positional form, exactly as in the guide.
    enrich_session!("sess_abc123", metadata = {"user_id": "user_456"});
}

fn modern_signature() {
    let session_id = format!("sess_modern-{}", suffix());
    enrich_session!(
        session_id = session_id, // Optional, defaults to active session
        metadata = {"user_id": "user_456", "tier": "premium", "region": "us-east"},
        metrics = {"total_cost": 0.045}
    );
    report("modern", &session_id);
}

// ----- Pattern 1: user workflow tracking -----

fn handle_user_workflow(user_id: &str, workflow_name: &str) -> (HoneyHiveTracer, String) {
    // Initialize session for this workflow
    let tracer = HoneyHiveTracer::builder()
        .with_project("customer-support")
        .with_session_name(format!("{workflow_name}-{user_id}"))
        .build();

    // Enrich with user context
    enrich_session!(metadata = {
        "user_id": user_id,
        "workflow": workflow_name,
        "started_at": now_iso()
    });

    // Step 1: Initial query
    let response1 = chat_completion("gpt-3.5-turbo", &[user("How do I reset my password?")], 1.0);

    // Update session with progress
    enrich_session!(metadata = {"step": "initial_query_complete"});

    // Step 2: Follow-up
    let response2 = chat_completion(
        "gpt-3.5-turbo",
        &[
            user("How do I reset my password?"),
            assistant(response1.content),
            user("I didn't receive the email"),
        ],
        1.0,
    );

    // Final session enrichment
    enrich_session!(
        metadata = {"step": "workflow_complete", "completed_at": now_iso()},
        metrics = {"total_interactions": 2, "resolution": "success"}
    );
    report("workflow", tracer.session_id());
    (tracer, response2.content)
}

// ----- Pattern 2: experiment tracking -----

fn calculate_cost(usage: &Usage) -> f64 {
    usage.prompt_tokens as f64 * 0.000_03 + usage.completion_tokens as f64 * 0.000_06
}

fn run_ab_test_experiment(query: &str, user_id: &str, variant_a: bool) -> HoneyHiveTracer {
    // Determine variant
    let variant = if variant_a { "variant_a" } else { "variant_b" };

    // Initialize session
    let tracer = HoneyHiveTracer::builder()
        .with_project("ab-testing")
        .with_session_name(format!("experiment-{user_id}"))
        .build();

    let model = if variant_a { "gpt-4" } else { "gpt-3.5-turbo" };
    let temperature = if variant_a { 0.7 } else { 0.9 };
    // Enrich with experiment metadata
    enrich_session!(
        metadata = {"experiment": "prompt_optimization_v2", "variant": variant, "user_id": user_id},
        config = {"model": model, "temperature": temperature}
    );

    // Run the experiment
    let start = Instant::now();
    let response = chat_completion(model, &[user(query)], temperature);
    let duration = start.elapsed().as_secs_f64();

    // Enrich with results
    enrich_session!(
        metrics = {
            "response_time": duration,
            "token_count": response.usage.total_tokens,
            "cost": calculate_cost(&response.usage)
        },
        outputs = {"response": response.content}
    );
    report("experiment", tracer.session_id());
    tracer
}

// ----- Pattern 3: session feedback collection -----

fn collect_session_feedback(session_id: &str, rating: u8, comments: &str) {
    // Enrich the session with feedback (can be called after session ends)
    enrich_session!(
        session_id = session_id,
        feedback = {
            "user_rating": rating,
            "user_comments": comments,
            "feedback_timestamp": now_iso(),
            "helpful": rating >= 4
        },
        metadata = {"feedback_collected": true}
    );
}

// ----- Pattern 4: cost and performance tracking -----

struct SessionCostTracker {
    tracer: HoneyHiveTracer,
    total_tokens: u64,
    total_cost: f64,
    call_count: u64,
}

impl SessionCostTracker {
    fn new(project: &str, session_name: &str) -> Self {
        SessionCostTracker {
            tracer: HoneyHiveTracer::builder()
                .with_project(project)
                .with_session_name(session_name)
                .build(),
            total_tokens: 0,
            total_cost: 0.0,
            call_count: 0,
        }
    }

    /// Make an LLM call and track costs.
    fn make_llm_call(&mut self, messages: &[common::Message], model: &str) -> String {
        let response: Completion = chat_completion(model, messages, 1.0);

        // Update tracking
        self.call_count += 1;
        self.total_tokens += response.usage.total_tokens;
        self.total_cost += Self::calculate_cost(&response.usage, model);

        // Enrich session with updated metrics
        self.tracer
            .enrich_session(honeyhive::Enrichment::new().metrics(serde_json::json!({
                "total_tokens": self.total_tokens,
                "total_cost": self.total_cost,
                "call_count": self.call_count,
                "avg_tokens_per_call": self.total_tokens as f64 / self.call_count as f64
            })));
        response.content
    }

    /// Calculate cost based on token usage and model.
    fn calculate_cost(usage: &Usage, model: &str) -> f64 {
        if model.contains("gpt-4") {
            usage.prompt_tokens as f64 * 0.000_03 + usage.completion_tokens as f64 * 0.000_06
        } else {
            usage.prompt_tokens as f64 * 0.000_001 + usage.completion_tokens as f64 * 0.000_002
        }
    }
}

fn cost_tracking() -> HoneyHiveTracer {
    let mut tracker = SessionCostTracker::new("my-app", "cost-tracking-session");
    tracker.make_llm_call(&[user("Hello!")], "gpt-3.5-turbo");
    tracker.make_llm_call(&[user("Tell me more")], "gpt-3.5-turbo");
    report("cost", tracker.tracer.session_id());
    tracker.tracer
}

// ----- Pattern 5: multi-instance session enrichment -----

fn multi_instance() -> Vec<HoneyHiveTracer> {
    // Create multiple tracers for different workflows
    let prod_tracer = HoneyHiveTracer::builder()
        .with_project("production")
        .with_session_name("prod-session-1")
        .with_source("production")
        .build();
    let test_tracer = HoneyHiveTracer::builder()
        .with_project("testing")
        .with_session_name("test-session-1")
        .with_source("testing")
        .build();

    // Enrich production session
    enrich_session!(
        metadata = {"environment": "production", "user_id": "user_123"},
        tracer_instance = prod_tracer // Specify which tracer's session to enrich
    );
    // Enrich test session
    enrich_session!(
        metadata = {"environment": "testing", "test_case": "scenario_1"},
        tracer_instance = test_tracer
    );
    report("multi_prod", prod_tracer.session_id());
    report("multi_test", test_tracer.session_id());
    vec![prod_tracer, test_tracer]
}

// ----- Advanced: session lifecycle management -----

#[derive(Debug)]
struct TaskError(String);

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn do_work(task: &str) -> Result<Completion, TaskError> {
    if task.contains("impossible") {
        return Err(TaskError(format!("cannot help with: {task}")));
    }
    Ok(chat_completion(
        "gpt-3.5-turbo",
        &[user(format!("Help me with: {task}"))],
        1.0,
    ))
}

fn managed_session_workflow(
    user_id: &str,
    task: &str,
) -> (HoneyHiveTracer, Result<String, TaskError>) {
    // Initialize session
    let tracer = HoneyHiveTracer::builder()
        .with_project("managed-workflows")
        .with_session_name(format!("{task}-{user_id}"))
        .build();

    // Start: Add initial metadata
    enrich_session!(metadata = {
        "user_id": user_id,
        "task": task,
        "status": "started",
        "started_at": now_iso()
    });

    // In Progress: Update status
    enrich_session!(metadata = {"status": "in_progress"});

    let result = match do_work(task) {
        Ok(response) => {
            // Success: Add final metadata
            enrich_session!(
                metadata = {"status": "completed", "completed_at": now_iso()},
                outputs = {"result": response.content},
                metrics = {"success": true}
            );
            Ok(response.content)
        }
        Err(e) => {
            // Error: Add error metadata
            enrich_session!(
                metadata = {
                    "status": "failed",
                    "failed_at": now_iso(),
                    "error_type": "TaskError",
                    "error_message": e.to_string()
                },
                metrics = {"success": false}
            );
            Err(e)
        }
    };
    (tracer, result)
}

// ----- Complex data structures -----

fn complex_data() -> HoneyHiveTracer {
    let tracer = HoneyHiveTracer::builder()
        .with_project("my-app")
        .with_session_name("complex-data")
        .build();
    enrich_session!(
        metadata = {
            "user": {
                "id": "user_123",
                "profile": {
                    "tier": "premium",
                    "features": ["chat", "analytics", "export"],
                    "settings": {"notifications": true, "language": "en"}
                }
            }
        },
        config = {
            "model_pipeline": [
                {"step": 1, "model": "gpt-4", "temperature": 0.7},
                {"step": 2, "model": "gpt-3.5-turbo", "temperature": 0.5}
            ],
            "fallback_strategy": {
                "enabled": true,
                "models": ["gpt-4", "gpt-3.5-turbo", "claude-2"]
            }
        }
    );
    report("complex", tracer.session_id());
    tracer
}

fn main() {
    let mut tracers = vec![basic_usage()];
    enrich_specific_session();
    legacy_signatures();
    modern_signature();

    let (workflow_tracer, _answer) = handle_user_workflow("user_123", "password_reset");
    let workflow_session = workflow_tracer.session_id().to_owned();
    tracers.push(workflow_tracer);
    tracers.push(run_ab_test_experiment(
        "Summarize our refund policy",
        "user_789",
        true,
    ));

    // Feedback for the workflow session, after it ended.
    collect_session_feedback(&workflow_session, 5, "Very helpful, thanks!");
    report("feedback", &workflow_session);

    tracers.push(cost_tracking());
    tracers.extend(multi_instance());

    let (ok_tracer, ok) = managed_session_workflow("user_1", "write a haiku");
    assert!(ok.is_ok());
    report("lifecycle_ok", ok_tracer.session_id());
    tracers.push(ok_tracer);
    let (failed_tracer, failed) = managed_session_workflow("user_2", "an impossible task");
    assert!(failed.is_err());
    report("lifecycle_failed", failed_tracer.session_id());
    tracers.push(failed_tracer);

    tracers.push(complex_data());

    // Rust programs end without interpreter hooks: deliver before exiting.
    for tracer in &tracers {
        tracer.shutdown(Duration::from_secs(10));
    }
    let dropped: u64 = tracers.iter().map(|t| t.stats().enrichments_dropped).sum();
    println!("DROPPED {dropped}");
}
