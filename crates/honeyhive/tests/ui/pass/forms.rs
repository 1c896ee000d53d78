use honeyhive::trace;

#[trace]
fn bare(a: u32) -> u32 {
    a
}

#[trace(name = "custom", event_type = "model", skip(secret), skip_output)]
fn options(query: &str, secret: &str) -> String {
    format!("{query}{secret}")
}

#[trace(event_name = "alias", skip_all)]
fn skip_all(_x: Vec<u8>) {}

#[trace]
fn returns_ref(s: &str) -> &str {
    &s[1..]
}

#[trace]
fn impl_trait() -> impl Iterator<Item = u32> {
    0..3
}

#[trace]
fn with_question_mark(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n + 1)
}

#[trace]
fn generic<T: Clone>(t: T) -> (T, T) {
    (t.clone(), t)
}

#[trace]
fn destructured((a, b): (u8, u8), mut c: u8) -> u8 {
    c += a + b;
    c
}

struct S(String);

impl S {
    #[trace(event_type = "chain")]
    fn method(&self, x: u8) -> &str {
        let _ = x;
        &self.0
    }

    #[trace]
    fn consume(self) -> String {
        self.0
    }

    #[trace]
    async fn async_method(&mut self, suffix: &str) -> usize {
        self.0.push_str(suffix);
        self.0.len()
    }
}

#[trace]
async fn async_fn(n: u64) -> Result<u64, String> {
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

fn is_send<T: Send>(_: T) {}

#[trace(tracer = tracer, skip(tracer))]
fn explicit_tracer(tracer: &honeyhive::HoneyHiveTracer) {}

fn main() {
    let tracer = honeyhive::HoneyHiveTracer::builder().with_test_mode(true).build();
    let _ = (bare(1), options("a", "b"), returns_ref("xy"), with_question_mark("1"), generic(1u8));
    skip_all(vec![]);
    explicit_tracer(&tracer);
    impl_trait().count();
    destructured((1, 2), 3);
    let s = S("a".into());
    s.method(1);
    s.consume();
    // Async traced functions stay Send.
    is_send(async_fn(1));
    let mut s = S("b".into());
    is_send(async move { s.async_method("c").await });
}
