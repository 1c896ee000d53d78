use honeyhive::trace;

#[trace(skip(pasword))]
fn login(user: &str, password: &str) {
    let _ = (user, password);
}

fn main() {}
