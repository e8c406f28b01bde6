//! `#[derive(ElicitForm)]` and `#[derive(FormChoice)]`: the compile-time check that a type is a flat
//! elicitation form (or a choice in one), and the trait impls `RequestContext::elicit_as` needs.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, Path};

/// The options both derives read from `#[elicit(...)]`: only `crate = path`, where `mcp_server` is.
fn krate(attrs: &[Attribute]) -> syn::Result<TokenStream2> {
    let mut krate: Option<Path> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("elicit")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value = meta.value()?;
                let path = if value.peek(LitStr) {
                    value.parse::<LitStr>()?.parse()?
                } else {
                    value.call(Path::parse_mod_style)?
                };
                if krate.replace(path).is_some() {
                    return Err(meta.error("duplicate `crate`"));
                }
                Ok(())
            } else {
                Err(meta.error("unknown option; expected `crate = path`"))
            }
        })?;
    }
    Ok(krate
        .map(|p| p.into_token_stream())
        .unwrap_or_else(crate::server_path))
}

/// The `serde` attributes of a container or field that matter here: `rename`, `rename_all` and whether
/// `flatten` or `transparent` is present.
#[derive(Default)]
struct Serde {
    rename: Option<String>,
    rename_all: Option<String>,
    flatten: Option<Span>,
}

fn serde_attrs(attrs: &[Attribute]) -> Serde {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Anything this does not understand is serde's business, not an error here.
        let _ = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string());
            match key.as_deref() {
                Some("rename") | Some("rename_all") if meta.input.peek(syn::Token![=]) => {
                    let v: LitStr = meta.value()?.parse()?;
                    if key.as_deref() == Some("rename") {
                        out.rename = Some(v.value());
                    } else {
                        out.rename_all = Some(v.value());
                    }
                }
                Some("flatten") | Some("transparent") => out.flatten = Some(meta.path.span()),
                _ => {
                    // Skip a value or a nested list.
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        let _ = meta.parse_nested_meta(|inner| {
                            if inner.input.peek(syn::Token![=]) {
                                let _: syn::Expr = inner.value()?.parse()?;
                            }
                            Ok(())
                        });
                    }
                }
            }
            Ok(())
        });
    }
    out
}

/// A snake_case field name as serde's `rename_all` writes it; `None` for a rule this does not know.
fn rename(field: &str, rule: &str) -> Option<String> {
    let words = field.split('_').filter(|w| !w.is_empty());
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    Some(match rule {
        "lowercase" | "snake_case" => field.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_uppercase(),
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.replace('_', "-").to_uppercase(),
        "PascalCase" => words.map(cap).collect(),
        "camelCase" => {
            let pascal: String = words.map(cap).collect();
            let mut c = pascal.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
        _ => return None,
    })
}

pub(crate) fn derive_form(input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = krate(&input.attrs)?;
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "`ElicitForm` is for a concrete struct; a form cannot be generic",
        ));
    }
    let container = serde_attrs(&input.attrs);
    if let Some(span) = container.flatten {
        return Err(syn::Error::new(
            span,
            "`#[serde(transparent)]` makes this not a form; a form is a struct with named fields",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => &f.named,
            _ => {
                return Err(syn::Error::new(
                    ident.span(),
                    "`ElicitForm` needs a struct with named fields: each field is one form field",
                ))
            }
        },
        Data::Enum(_) => {
            return Err(syn::Error::new(
                ident.span(),
                "`ElicitForm` is for a struct; derive `FormChoice` on an enum to use it as a field's choices",
            ))
        }
        Data::Union(_) => {
            return Err(syn::Error::new(
                ident.span(),
                "`ElicitForm` is for a struct with named fields",
            ))
        }
    };
    let mut checks = Vec::new();
    let mut order = Vec::new();
    for field in fields {
        let attrs = serde_attrs(&field.attrs);
        if let Some(span) = attrs.flatten {
            return Err(syn::Error::new(
                span,
                "a form is flat: `#[serde(flatten)]` would nest another struct's fields; write them here instead",
            ));
        }
        let name = field
            .ident
            .as_ref()
            .map(|i| i.unraw().to_string())
            .unwrap_or_default();
        let wire = attrs.rename.or_else(|| match &container.rename_all {
            Some(rule) => rename(&name, rule),
            None => Some(name.clone()),
        });
        if let Some(wire) = wire {
            order.push(wire);
        }
        let ty = &field.ty;
        // The error for a field that is not a form field points at its type.
        checks.push(quote_spanned! {ty.span()=>
            #krate::__assert_form_field::<#ty>();
        });
    }
    Ok(quote! {
        impl #krate::ElicitForm for #ident {
            const FIELD_ORDER: &'static [&'static str] = &[#(#order),*];
        }
        const _: fn() = || {
            #(#checks)*
        };
    })
}

pub(crate) fn derive_choice(input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = krate(&input.attrs)?;
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "`FormChoice` is for a concrete enum; it cannot be generic",
        ));
    }
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            ident.span(),
            "`FormChoice` is for an enum whose variants are the choices; derive `ElicitForm` on a struct",
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new(
            ident.span(),
            "`FormChoice` needs at least one variant to choose",
        ));
    }
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new(
                v.fields.span(),
                "a choice is a unit variant: a form field's value is one string, so variants carry no data",
            ));
        }
    }
    Ok(quote! {
        impl #krate::FormField for #ident {}
        impl #krate::FormChoice for #ident {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(
        f: fn(DeriveInput) -> syn::Result<TokenStream2>,
        item: TokenStream2,
    ) -> Result<String, String> {
        f(syn::parse2(item).unwrap())
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rename_rules_match_serde() {
        let cases = [
            ("camelCase", "first_name", "firstName"),
            ("PascalCase", "first_name", "FirstName"),
            ("kebab-case", "first_name", "first-name"),
            ("SCREAMING_SNAKE_CASE", "first_name", "FIRST_NAME"),
            ("SCREAMING-KEBAB-CASE", "first_name", "FIRST-NAME"),
            ("snake_case", "first_name", "first_name"),
        ];
        for (rule, field, wire) in cases {
            assert_eq!(rename(field, rule).as_deref(), Some(wire), "{rule}");
        }
        assert_eq!(rename("x", "nonsense"), None);
    }

    #[test]
    fn a_form_lists_its_wire_names_in_order_and_checks_each_field() {
        let out = expand(
            derive_form,
            quote! {
                #[serde(rename_all = "camelCase")]
                struct Signup { user_name: String, #[serde(rename = "mail")] email: Option<String>, r#type: u8 }
            },
        )
        .unwrap();
        assert!(out.contains(r#"& ["userName" , "mail" , "type"]"#), "{out}");
        assert_eq!(out.matches("__assert_form_field").count(), 3, "{out}");
    }

    #[test]
    fn shapes_that_are_not_forms_are_refused() {
        for (item, says) in [
            (
                quote!(
                    struct T(String);
                ),
                "named fields",
            ),
            (
                quote!(
                    struct T<X> {
                        x: X,
                    }
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    enum E {
                        A,
                    }
                ),
                "derive `FormChoice`",
            ),
            (
                quote!(
                    struct T {
                        #[serde(flatten)]
                        inner: Inner,
                    }
                ),
                "flat",
            ),
            (
                quote!(
                    #[serde(transparent)]
                    struct T {
                        s: String,
                    }
                ),
                "transparent",
            ),
            (
                quote!(
                    #[elicit(krate = x)]
                    struct T {
                        s: String,
                    }
                ),
                "expected `crate = path`",
            ),
        ] {
            let e = expand(derive_form, item.clone()).unwrap_err();
            assert!(e.contains(says), "{item}: {e}");
        }
        for (item, says) in [
            (
                quote!(
                    enum E {
                        A(String),
                    }
                ),
                "unit variant",
            ),
            (
                quote!(
                    enum E {}
                ),
                "at least one variant",
            ),
            (
                quote!(
                    struct S {
                        a: String,
                    }
                ),
                "enum",
            ),
        ] {
            let e = expand(derive_choice, item.clone()).unwrap_err();
            assert!(e.contains(says), "{item}: {e}");
        }
        assert!(expand(
            derive_choice,
            quote!(
                enum E {
                    A,
                    B,
                }
            )
        )
        .is_ok());
    }
}
