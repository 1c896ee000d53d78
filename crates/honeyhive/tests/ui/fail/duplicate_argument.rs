use honeyhive::trace;

#[trace(event_type = "tool", event_type = "model")]
fn f() {}

fn main() {}
