//! Parsing of `#[trace(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

const KNOWN: &str = "name, event_name, event_type, skip, skip_all, skip_output, tracer";

/// The parsed arguments of one `#[trace(...)]`.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) event_type: Option<LitStr>,
    pub(crate) skips: Vec<Ident>,
    pub(crate) skip_all: bool,
    pub(crate) skip_output: bool,
    pub(crate) tracer: Option<Expr>,
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            match key.to_string().as_str() {
                "name" | "event_name" => {
                    reject_duplicate(&key, args.name.is_some())?;
                    args.name = Some(parse_string_value(input, &key)?);
                }
                "event_type" => {
                    reject_duplicate(&key, args.event_type.is_some())?;
                    let value = parse_string_value(input, &key)?;
                    if value.value().trim().is_empty() {
                        return Err(syn::Error::new(
                            value.span(),
                            "`event_type` must not be empty",
                        ));
                    }
                    args.event_type = Some(value);
                }
                "skip" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let names: Punctuated<Ident, Token![,]> =
                        content.parse_terminated(Ident::parse, Token![,])?;
                    if names.is_empty() {
                        return Err(syn::Error::new(
                            key.span(),
                            "`skip(...)` needs at least one parameter name; use `skip_all` to skip every argument",
                        ));
                    }
                    args.skips.extend(names);
                }
                "skip_all" => {
                    reject_duplicate(&key, args.skip_all)?;
                    args.skip_all = true;
                }
                "skip_output" | "skip_outputs" => {
                    reject_duplicate(&key, args.skip_output)?;
                    args.skip_output = true;
                }
                "tracer" | "tracer_instance" => {
                    reject_duplicate(&key, args.tracer.is_some())?;
                    input.parse::<Token![=]>()?;
                    args.tracer = Some(input.parse()?);
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown `#[trace]` argument `{other}`; expected one of: {KNOWN}"),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

fn reject_duplicate(key: &Ident, seen: bool) -> syn::Result<()> {
    if seen {
        Err(syn::Error::new(
            key.span(),
            format!("`{key}` is given more than once"),
        ))
    } else {
        Ok(())
    }
}

fn parse_string_value(input: ParseStream<'_>, key: &Ident) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    if input.peek(LitStr) {
        input.parse()
    } else {
        Err(input.error(format!(
            "`{key}` expects a string literal, e.g. `{key} = \"...\"`"
        )))
    }
}
