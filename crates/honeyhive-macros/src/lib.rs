//! The `#[trace]` attribute of the `honeyhive` SDK.
//!
//! Use it through the facade: `use honeyhive::trace;`. The macro expands to calls
//! into `::honeyhive::__private`, which is not a stable API.
//!
//! The crate is split like `tracing-attributes`: this file is the entry point,
//! [`attr`] parses the arguments and [`expand`] generates the code.

use proc_macro::TokenStream;

mod attr;
mod expand;

/// Records a function call as a HoneyHive event (an OpenTelemetry span).
///
/// * name: the function path (`module::function`), or `name = "..."`
///   (alias `event_name`).
/// * `event_type = "model" | "tool" | "chain" | ...` (default `"tool"`).
/// * arguments become `inputs.<name>` (serialized with `serde` when the type is
///   `Serialize`, else its `Debug` text); `skip(a, b)` or `skip_all` leave them out.
/// * the return value becomes `outputs.result` (`skip_output` leaves it out);
///   when the function returns a `Result`, `Err(e)` becomes the event's error.
/// * a panic marks the event as failed and keeps unwinding.
/// * `tracer = expr` records with that tracer instead of the current one.
///
/// Works on sync and `async` functions, methods and generic functions. Calls
/// made inside the function become its children.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(args as attr::TraceArgs);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    match expand::expand(args, item) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}
