use honeyhive::trace;

#[trace(name = 42)]
fn f() {}

fn main() {}
