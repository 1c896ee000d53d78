use honeyhive::trace;

#[trace]
struct NotAFunction;

fn main() {}
