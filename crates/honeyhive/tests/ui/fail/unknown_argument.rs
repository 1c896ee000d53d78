use honeyhive::trace;

#[trace(level = "info")]
fn f() {}

fn main() {}
