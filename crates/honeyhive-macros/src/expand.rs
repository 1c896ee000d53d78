//! Code generation for `#[trace]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::attr::TraceArgs;

pub(crate) fn expand(args: TraceArgs, item: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;

    if sig.constness.is_some() {
        return Err(syn::Error::new(
            sig.constness.span(),
            "`#[trace]` cannot be used on a `const fn`",
        ));
    }

    let params = parameter_names(&sig.inputs);
    for skipped in &args.skips {
        if !params.iter().any(|p| p == skipped) {
            return Err(syn::Error::new(
                skipped.span(),
                format!("`skip` names `{skipped}`, which is not a parameter of this function"),
            ));
        }
    }

    let fn_name = &sig.ident;
    let name = match &args.name {
        Some(lit) => quote!(#lit),
        None => {
            let fn_name_str = fn_name.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name_str))
        }
    };
    let event_type = match &args.event_type {
        Some(lit) => quote!(#lit),
        None => quote!("tool"),
    };
    let start = match &args.tracer {
        Some(tracer) => quote_spanned! {tracer.span()=>
            ::honeyhive::__private::TraceSpan::start_with(
                #name,
                #event_type,
                ::core::borrow::Borrow::<::honeyhive::HoneyHiveTracer>::borrow(&(#tracer)),
            )
        },
        None => quote!(::honeyhive::__private::TraceSpan::start(#name, #event_type)),
    };

    let inputs: Vec<TokenStream> = if args.skip_all {
        Vec::new()
    } else {
        params
            .iter()
            .filter(|p| !args.skips.iter().any(|s| s == *p))
            .map(|p| {
                let key = p.to_string();
                let key = key.strip_prefix("r#").unwrap_or(&key).to_owned();
                // The attribute name is made at compile time.
                quote! {
                    __hh_span.record_input_val(
                        ::core::concat!("honeyhive_inputs.", #key),
                        (&&::honeyhive::__private::Wrap(&#p)).__hh_val(),
                    );
                }
            })
            .collect()
    };

    // The body runs as a closure (sync) or an async block (async) so that
    // `return` and `?` inside it still produce the value we record.
    let ret_ty = match &sig.output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => None,
        ReturnType::Type(_, ty) => Some(quote!(#ty)),
    };
    let body = match &ret_ty {
        Some(ty) => quote! {{
            #[allow(clippy::let_unit_value, clippy::diverging_sub_expression)]
            let __hh_ret: #ty = #block;
            #[allow(unreachable_code, clippy::needless_return)]
            return __hh_ret;
        }},
        None => quote!(#block),
    };

    let is_unit = matches!(&sig.output, ReturnType::Default)
        || matches!(&sig.output, ReturnType::Type(_, ty) if is_unit_type(ty));
    let returns_result = matches!(&sig.output, ReturnType::Type(_, ty) if is_result_type(ty));

    let record_ok = if args.skip_output || is_unit {
        quote!()
    } else {
        quote!(__hh_span.record_output_val((&&::honeyhive::__private::Wrap(__hh_value)).__hh_val());)
    };
    let record_output = if returns_result {
        quote! {
            match &__hh_result {
                ::core::result::Result::Ok(__hh_value) => {
                    let _ = &__hh_value;
                    #record_ok
                }
                ::core::result::Result::Err(__hh_error) => {
                    __hh_span.record_error((&&::honeyhive::__private::Wrap(__hh_error)).__hh_error_text());
                }
            }
        }
    } else if args.skip_output || is_unit {
        quote!()
    } else {
        quote! {{
            let __hh_value = &__hh_result;
            #record_ok
        }}
    };

    let run = if sig.asyncness.is_some() {
        quote!(__hh_span.in_scope_async(async move #body).await)
    } else {
        quote!(__hh_span.in_scope(move || #body))
    };

    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #[allow(unused_imports)]
            use ::honeyhive::__private::{
                ErrViaDebug as _, ErrViaDisplay as _, ErrViaNothing as _, ViaDebug as _, ViaNothing as _,
                ViaSerialize as _,
            };
            let __hh_span = #start;
            if __hh_span.is_recording() {
                #(#inputs)*
            }
            let __hh_result = #run;
            if __hh_span.is_recording() {
                #record_output
            }
            __hh_span.end();
            __hh_result
        }
    })
}

/// The names of the parameters that can be recorded: `self` and destructuring
/// patterns are left out.
fn parameter_names(inputs: &syn::punctuated::Punctuated<FnArg, syn::Token![,]>) -> Vec<Ident> {
    inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Receiver(_) => None,
            FnArg::Typed(pat_type) => match &*pat_type.pat {
                Pat::Ident(pat_ident) if pat_ident.subpat.is_none() => {
                    Some(pat_ident.ident.clone())
                }
                _ => None,
            },
        })
        .collect()
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
        fn visit_type_infer(&mut self, _: &'ast syn::TypeInfer) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

fn is_unit_type(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// Whether the return type is spelled as a `Result` (`Result<T, E>`,
/// `io::Result<T>`, `anyhow::Result<T>`, ...).
fn is_result_type(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Group(group) => is_result_type(&group.elem),
        Type::Paren(paren) => is_result_type(&paren.elem),
        _ => false,
    }
}
