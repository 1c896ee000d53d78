use honeyhive::trace;

#[trace(skip())]
fn f(a: u8) {
    let _ = a;
}

fn main() {}
