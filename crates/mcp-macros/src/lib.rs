//! Attribute macros that turn an `async fn` into an MCP tool or prompt.
//!
//! Each macro leaves the function exactly as written and adds a sibling **registration function** that calls
//! the public builder API of `mcp-server`; nothing it generates is out of reach by hand:
//!
//! | you write | the macro adds |
//! | --- | --- |
//! | `#[tool] async fn add(..)` | `fn add_tool(builder: ServerBuilder) -> ServerBuilder`, calling `ServerBuilder::typed_tool` |
//! | `#[prompt] async fn greet(..)` | `fn greet_prompt(builder: ServerBuilder) -> ServerBuilder`, calling `ServerBuilder::prompt` |
//!
//! The registration function has the visibility of the function it comes from. Apply it to a builder:
//!
//! ```
//! use mcp_server::{Error, Server};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct AddArgs { a: f64, b: f64 }
//!
//! /// Add two numbers.
//! #[mcp_macros::tool]
//! async fn add(args: AddArgs) -> Result<String, Error> {
//!     Ok((args.a + args.b).to_string())
//! }
//!
//! let builder = add_tool(Server::builder("calculator", "1.0.0"));
//! let server = builder.build();
//! assert_eq!(server.tools()[0].name, "add");
//! assert_eq!(server.tools()[0].description.as_deref(), Some("Add two numbers."));
//! ```
//!
//! Beside the function the macro adds a module of the same name (functions and modules live in different
//! namespaces) holding the wire name and description: `add_tool::NAME`, `add_tool::DESCRIPTION`. Use it where
//! the name is needed (a client call, a test) instead of repeating the string.
//!
//! To register a whole module at once, so that a new tool cannot be forgotten, use [`macro@collect`].
//!
//! # Paths in the generated code
//!
//! The expansion has to name `mcp-server`. The macros read the `Cargo.toml` of the crate being compiled
//! (with `proc-macro-crate`), where the packages appear under their crates.io names, `mcp-rs` (the `mcp`
//! crate) and `mcp-rs-server` (`mcp_server`):
//! - it depends on `mcp` (under any name): through the facade's hidden `__private` module, so `mcp` is the only
//!   MCP dependency a user needs;
//! - else it depends on `mcp-server`: `::mcp_server` (under its name there);
//! - else, or when the crate is re-exported by another crate: say where with `crate = path`
//!   (`#[tool(crate = my_sdk::mcp::server)]`), the path of the `mcp-server` crate or a module re-exporting it.
//!
//! A forgotten registration is not silent: the generated function of a private tool that nothing calls is
//! reported by rustc's `dead_code` lint (an error under `-D warnings`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod elicit_form;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, FnArg, Ident, ItemFn, Lit, LitStr, Meta, Path, Token, Type};

/// Make an `async fn` an MCP tool: adds `fn <name>_tool(builder: ServerBuilder) -> ServerBuilder`.
///
/// The function takes its arguments as one type implementing `serde::Deserialize` and `schemars::JsonSchema`
/// (its schema becomes the tool's `inputSchema`), optionally preceded by a `RequestContext`, and returns
/// `Result<R, Error>` where `R: IntoToolOutput` (`String`, `&'static str`, `CallToolResult`, or `Json<T>`
/// to publish an `outputSchema` and `structuredContent`):
///
/// ```text
/// async fn name(args: Args) -> Result<R, Error>
/// async fn name(ctx: RequestContext, args: Args) -> Result<R, Error>
/// ```
///
/// Attribute options, all optional:
/// - `name = "..."`: the tool's name (default: the function's name);
/// - `description = "..."`: its description (default: the function's doc comment; one of the two is required);
/// - `crate = path`: where `mcp-server` is (default: found from `Cargo.toml`, see the crate docs).
///
/// Also adds `mod <name>_tool { pub const NAME: &str; pub const DESCRIPTION: &str; }`.
///
/// The generated function is exactly
/// `builder.typed_tool(name, description, |ctx, args: Args| name(ctx, args))`.
///
/// ```
/// use mcp_server::{Error, Json, RequestContext, Server};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct DivArgs { a: f64, b: f64 }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Quotient { value: f64 }
///
/// #[mcp_macros::tool(name = "divide", description = "Divide a by b")]
/// async fn div(_ctx: RequestContext, args: DivArgs) -> Result<Json<Quotient>, Error> {
///     if args.b == 0.0 {
///         return Err(Error::tool("division by zero"));
///     }
///     Ok(Json(Quotient { value: args.a / args.b }))
/// }
///
/// let server = div_tool(Server::builder("calculator", "1.0.0")).build();
/// let tool = &server.tools()[0];
/// assert_eq!(tool.name, "divide");
/// assert!(tool.output_schema.is_some());
/// ```
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    run(Kind::Tool, attr.into(), item.into()).into()
}

/// Make an `async fn` an MCP prompt: adds `fn <name>_prompt(builder: ServerBuilder) -> ServerBuilder`.
///
/// The function takes an optional `RequestContext` and an optional argument map (`PromptArgs`, that is
/// `BTreeMap<String, String>`), in that order, and returns `Result<GetPromptResult, Error>`:
///
/// ```text
/// async fn name() -> Result<GetPromptResult, Error>
/// async fn name(args: PromptArgs) -> Result<GetPromptResult, Error>
/// async fn name(ctx: RequestContext) -> Result<GetPromptResult, Error>
/// async fn name(ctx: RequestContext, args: PromptArgs) -> Result<GetPromptResult, Error>
/// ```
///
/// A lone parameter is the context when its type is spelled `RequestContext`, else the argument map.
///
/// Attribute options, all optional:
/// - `name = "..."`, `description = "..."`: as for [`macro@tool`] (a description or doc comment is required);
/// - `arguments(topic(required, description = "...", title = "..."), style, "dashed-name")`: the declared
///   arguments, in order; each is an identifier or a string, optionally followed by its options;
/// - `crate = path`: where `mcp-server` is (default: found from `Cargo.toml`, see the crate docs);
/// - `protocol = path`: where `mcp-protocol` is (default: `mcp-server`'s re-export), used to build the
///   `Prompt`.
///
/// Also adds `mod <name>_prompt { pub const NAME: &str; pub const DESCRIPTION: &str; }`.
///
/// ```
/// use mcp_protocol::types::{GetPromptResult, PromptMessage};
/// use mcp_server::{Error, PromptArgs, Server};
///
/// /// Write a haiku.
/// #[mcp_macros::prompt(arguments(topic(required, description = "What about"), mood))]
/// async fn haiku(args: PromptArgs) -> Result<GetPromptResult, Error> {
///     let topic = args.get("topic").cloned().unwrap_or_default();
///     Ok(GetPromptResult {
///         messages: vec![PromptMessage::user(format!("Write a haiku about {topic}."))],
///         ..Default::default()
///     })
/// }
///
/// let server = haiku_prompt(Server::builder("poet", "1.0.0")).build();
/// # let _ = server;
/// ```
#[proc_macro_attribute]
pub fn prompt(attr: TokenStream, item: TokenStream) -> TokenStream {
    run(Kind::Prompt, attr.into(), item.into()).into()
}

/// Derive `mcp_server::ElicitForm` for a struct: a form for `RequestContext::elicit_as`, checked at compile
/// time to be flat.
///
/// Every field's type must implement `mcp_server::FormField`: `String`, `bool`, an integer or float type, an
/// enum deriving [`macro@FormChoice`], `Option` of one of those (an optional field), or a `Vec` of a
/// `FormChoice` enum (a multi-select). Anything else (a nested struct, a map, a `Vec<String>`) is a compile
/// error at the field's type. The struct also derives `serde::Deserialize` and `schemars::JsonSchema`, whose
/// schema (with doc comments as descriptions and `#[schemars(..)]` formats and bounds) is the form.
///
/// Option: `#[elicit(crate = path)]` where `mcp_server` is (default: found as for `#[tool]`, through `mcp` or `mcp-server`).
///
/// ```
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::FormChoice)]
/// #[serde(rename_all = "lowercase")]
/// enum Size { Small, Large }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
/// struct Order {
///     /// How many.
///     count: u32,
///     size: Size,
///     gift_note: Option<String>,
/// }
///
/// use mcp_server::ElicitForm;
/// let form = serde_json::to_value(Order::requested_schema().unwrap()).unwrap();
/// assert_eq!(form["properties"]["size"]["enum"], serde_json::json!(["small", "large"]));
/// ```
///
/// A field that is not flat does not compile:
///
/// ```compile_fail
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Address { street: String }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
/// struct Signup { name: String, address: Address } // error: `Address` cannot be a field of an elicitation form
/// ```
#[proc_macro_derive(ElicitForm, attributes(elicit))]
pub fn derive_elicit_form(item: TokenStream) -> TokenStream {
    derive(item, elicit_form::derive_form)
}

/// Derive `mcp_server::FormChoice` for a unit-only enum: its variants are the choices of a single-select
/// field (or, in a `Vec`, a multi-select). A variant's `#[schemars(title = "...")]` or doc comment becomes its
/// label. Option: `#[elicit(crate = path)]`, as for [`macro@ElicitForm`].
///
/// ```compile_fail
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::FormChoice)]
/// enum Payment { Card(String), Cash } // error: a choice is a unit variant
/// ```
#[proc_macro_derive(FormChoice, attributes(elicit))]
pub fn derive_form_choice(item: TokenStream) -> TokenStream {
    derive(item, elicit_form::derive_choice)
}

fn derive(item: TokenStream, f: fn(syn::DeriveInput) -> syn::Result<TokenStream2>) -> TokenStream {
    syn::parse(item)
        .and_then(f)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// Collect every `#[tool]` and `#[prompt]` of an inline module into one `register` function, so adding a
/// tool to the module is all it takes to serve it.
///
/// Adds to the module:
/// - `pub fn register(builder: ServerBuilder) -> ServerBuilder`, applying every tool and prompt of the
///   module in source order: `Server::builder(..).with(calc::register)`;
/// - `pub const TOOLS: &[&str]` and `pub const PROMPTS: &[&str]`: their wire names, in the same order (items
///   under `#[cfg]` are registered when enabled but not listed).
///
/// Inside the module, `#[tool]` and `#[prompt]` (any path ending in those names, so `#[mcp::tool]` too) are
/// expanded by `#[collect]` itself and need no import. A module with none of them is an error, and so is a
/// nested module holding some (give it its own `#[collect]` and call its `register`). The one option,
/// `crate = path`, is passed on to every item that does not set its own. Generated items keep their
/// function's visibility: make a function `pub` to reach `calc::add_tool::NAME` from outside the module.
///
/// ```
/// use mcp_server::Server;
///
/// #[mcp_macros::collect]
/// mod calc {
///     use mcp_server::{Error, PromptArgs};
///     use mcp_server::protocol::types::{GetPromptResult, PromptMessage};
///
///     #[derive(serde::Deserialize, schemars::JsonSchema)]
///     pub struct Pair { a: f64, b: f64 }
///
///     /// Add two numbers.
///     #[tool]
///     async fn add(args: Pair) -> Result<String, Error> {
///         Ok((args.a + args.b).to_string())
///     }
///
///     /// Multiply two numbers.
///     #[tool(name = "times")]
///     async fn mul(args: Pair) -> Result<String, Error> {
///         Ok((args.a * args.b).to_string())
///     }
///
///     /// Ask for a sum.
///     #[prompt]
///     async fn ask(_args: PromptArgs) -> Result<GetPromptResult, Error> {
///         Ok(GetPromptResult { messages: vec![PromptMessage::user("What is 2 + 2?")], ..Default::default() })
///     }
/// }
///
/// let server = Server::builder("calculator", "1.0.0").with(calc::register).build();
/// let names: Vec<_> = server.tools().into_iter().map(|t| t.name).collect();
/// assert_eq!(names, calc::TOOLS);
/// assert_eq!(calc::TOOLS, ["add", "times"]);
/// assert_eq!(calc::PROMPTS, ["ask"]);
/// ```
#[proc_macro_attribute]
pub fn collect(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_collect(attr.into(), item.clone().into()) {
        Ok(out) => out.into(),
        Err(e) => {
            let mut out: TokenStream2 = item.into();
            out.extend(e.to_compile_error());
            out.into()
        }
    }
}

/// The kind of a `#[tool]`/`#[prompt]` attribute (matched on the path's last segment).
fn item_kind(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    match last.ident.to_string().as_str() {
        "tool" => Some(Kind::Tool),
        "prompt" => Some(Kind::Prompt),
        _ => None,
    }
}

fn expand_collect(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut krate: Option<Path> = None;
    syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            set(
                &mut krate,
                parse_path(meta.value()?)?,
                meta.path.span(),
                "crate",
            )
        } else {
            Err(meta.error("unknown option; expected `crate`"))
        }
    })
    .parse2(attr)?;
    let mut module: syn::ItemMod = syn::parse2(item)?;
    let Some((brace, items)) = module.content.take() else {
        return Err(syn::Error::new_spanned(
            &module,
            "#[collect] needs an inline module: `mod name { ... }`",
        ));
    };

    let mut out_items: Vec<TokenStream2> = Vec::new();
    let mut registered = Vec::new();
    for item in items {
        match item {
            syn::Item::Fn(mut f) => {
                let Some(pos) = f.attrs.iter().position(|a| item_kind(a).is_some()) else {
                    out_items.push(f.into_token_stream());
                    continue;
                };
                let a = f.attrs.remove(pos);
                let kind = item_kind(&a).expect("found above");
                let args = match &a.meta {
                    Meta::Path(_) => TokenStream2::new(),
                    Meta::List(l) => l.tokens.clone(),
                    Meta::NameValue(nv) => {
                        return Err(syn::Error::new_spanned(
                            nv,
                            format!("expected {} or {}(...)", kind.attr(), kind.noun()),
                        ))
                    }
                };
                match expand_fn(kind, args, f.clone(), krate.as_ref()) {
                    Ok((out, r)) => {
                        out_items.push(out);
                        registered.push(r);
                    }
                    Err(e) => {
                        out_items.push(f.into_token_stream());
                        out_items.push(e.to_compile_error());
                    }
                }
            }
            syn::Item::Mod(m) => {
                let nested = m.content.as_ref().and_then(|(_, items)| {
                    items.iter().find_map(|i| match i {
                        syn::Item::Fn(f) => f.attrs.iter().find(|a| item_kind(a).is_some()),
                        _ => None,
                    })
                });
                if let Some(a) = nested {
                    return Err(syn::Error::new_spanned(
                        a,
                        "#[collect] does not look into nested modules: put `#[collect]` on this module too \
                         and call its `register` from the outer one",
                    ));
                }
                out_items.push(m.into_token_stream());
            }
            other => out_items.push(other.into_token_stream()),
        }
    }
    if registered.is_empty() {
        return Err(syn::Error::new_spanned(
            &module.ident,
            "#[collect] found no #[tool] or #[prompt] function in this module",
        ));
    }

    let krate = krate
        .map(|p| p.into_token_stream())
        .unwrap_or_else(server_path);
    let builder = Ident::new("builder", Span::mixed_site());
    let calls = registered.iter().map(|r| {
        let (reg, cfgs) = (&r.reg, &r.cfgs);
        quote!(#(#cfgs)* let #builder = #reg(#builder);)
    });
    let listed = |kind: Kind| {
        let regs = registered
            .iter()
            .filter(|r| r.kind == kind && r.cfgs.is_empty())
            .map(|r| &r.reg);
        quote!(&[#(#regs::NAME),*])
    };
    let (tools, prompts) = (listed(Kind::Tool), listed(Kind::Prompt));
    let syn::ItemMod {
        attrs,
        vis,
        unsafety,
        mod_token,
        ident,
        semi: _,
        ..
    } = module;
    let _ = brace;
    Ok(quote! {
        #(#attrs)*
        #vis #unsafety #mod_token #ident {
            #(#out_items)*

            /// Registers every tool and prompt of this module with a server builder (generated by
            /// `#[collect]`).
            pub fn register(#builder: #krate::ServerBuilder) -> #krate::ServerBuilder {
                #(#calls)*
                #builder
            }

            /// The wire names of this module's tools, in registration order (generated by `#[collect]`).
            #[allow(dead_code)]
            pub const TOOLS: &[&str] = #tools;

            /// The wire names of this module's prompts, in registration order (generated by `#[collect]`).
            #[allow(dead_code)]
            pub const PROMPTS: &[&str] = #prompts;
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tool,
    Prompt,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Tool => "#[tool]",
            Kind::Prompt => "#[prompt]",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
        }
    }
}

/// Expand, or on error emit the function untouched plus the error (so the error is the only one reported).
fn run(kind: Kind, attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    match expand(kind, attr, item.clone()) {
        Ok(out) => out,
        Err(e) => {
            let mut out = item;
            out.extend(e.to_compile_error());
            out
        }
    }
}

#[derive(Default)]
struct Options {
    name: Option<LitStr>,
    description: Option<LitStr>,
    krate: Option<Path>,
    protocol: Option<Path>,
    arguments: Option<Vec<PromptArg>>,
}

struct PromptArg {
    name: String,
    span: Span,
    required: bool,
    description: Option<LitStr>,
    title: Option<LitStr>,
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("duplicate `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// `path` or `"path"`.
fn parse_path(input: ParseStream) -> syn::Result<Path> {
    if input.peek(LitStr) {
        input.parse::<LitStr>()?.parse()
    } else {
        input.call(Path::parse_mod_style)
    }
}

fn parse_options(kind: Kind, attr: TokenStream2) -> syn::Result<Options> {
    let mut o = Options::default();
    let parser = syn::meta::parser(|meta| {
        let span = meta.path.span();
        let key = meta
            .path
            .get_ident()
            .map(|i| i.unraw().to_string())
            .unwrap_or_default();
        match key.as_str() {
            "name" => set(&mut o.name, meta.value()?.parse()?, span, "name"),
            "description" => set(
                &mut o.description,
                meta.value()?.parse()?,
                span,
                "description",
            ),
            "crate" => set(&mut o.krate, parse_path(meta.value()?)?, span, "crate"),
            "protocol" if kind == Kind::Prompt => set(
                &mut o.protocol,
                parse_path(meta.value()?)?,
                span,
                "protocol",
            ),
            "arguments" if kind == Kind::Prompt => {
                let content;
                syn::parenthesized!(content in meta.input);
                let args = parse_prompt_args(&content)?;
                set(&mut o.arguments, args, span, "arguments")
            }
            _ => Err(meta.error(match kind {
                Kind::Tool => "unknown option; expected `name`, `description` or `crate`",
                Kind::Prompt => {
                    "unknown option; expected `name`, `description`, `arguments`, `crate` or `protocol`"
                }
            })),
        }
    });
    parser.parse2(attr)?;
    Ok(o)
}

/// `a, b(required), "c-d"(description = "...", title = "...")`.
fn parse_prompt_args(input: ParseStream) -> syn::Result<Vec<PromptArg>> {
    let mut out: Vec<PromptArg> = Vec::new();
    while !input.is_empty() {
        let (name, span) = if input.peek(LitStr) {
            let s: LitStr = input.parse()?;
            (s.value(), s.span())
        } else {
            let i = input.call(Ident::parse_any)?;
            (i.unraw().to_string(), i.span())
        };
        if out.iter().any(|a| a.name == name) {
            return Err(syn::Error::new(
                span,
                format!("duplicate prompt argument `{name}`"),
            ));
        }
        let mut arg = PromptArg {
            name,
            span,
            required: false,
            description: None,
            title: None,
        };
        if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let mut required = None;
            syn::meta::parser(|meta| {
                let span = meta.path.span();
                if meta.path.is_ident("required") {
                    set(&mut required, (), span, "required")
                } else if meta.path.is_ident("description") {
                    set(
                        &mut arg.description,
                        meta.value()?.parse()?,
                        span,
                        "description",
                    )
                } else if meta.path.is_ident("title") {
                    set(&mut arg.title, meta.value()?.parse()?, span, "title")
                } else {
                    Err(meta.error(
                        "unknown argument option; expected `required`, `description = \"...\"` or `title = \"...\"`",
                    ))
                }
            })
            .parse2(content.parse()?)?;
            arg.required = required.is_some();
        }
        out.push(arg);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(out)
}

/// The doc comment, one line per `#[doc]`, each without the single space `///` leaves; `None` when blank.
fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let Meta::NameValue(nv) = &a.meta {
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
            {
                for line in s.value().split('\n') {
                    lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
                }
            }
        }
    }
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Whether a parameter type is spelled `RequestContext` (any path ending in it).
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "RequestContext"),
        Type::Group(g) => is_context(&g.elem),
        Type::Paren(p) => is_context(&p.elem),
        _ => false,
    }
}

/// Which of the function's parameters are the context and the arguments.
struct Params {
    ctx: bool,
    args: Option<Type>,
}

fn check_fn(kind: Kind, f: &ItemFn) -> syn::Result<Params> {
    let sig = &f.sig;
    let attr = kind.attr();
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span,
            format!(
                "{attr} needs an `async fn`: write `async fn {}(..)`",
                sig.ident.unraw()
            ),
        ));
    }
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new(
            u.span,
            format!("{attr} functions cannot be `unsafe`"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{attr} functions cannot be generic"),
        ));
    }
    if let syn::ReturnType::Default = sig.output {
        let what = match kind {
            Kind::Tool => "Result<R, Error>` (with `R: IntoToolOutput`)",
            Kind::Prompt => "Result<GetPromptResult, Error>`",
        };
        return Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("{attr} functions must return `{what}"),
        ));
    }
    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    format!("{attr} needs a free function, not a method"),
                ))
            }
            FnArg::Typed(t) => types.push((*t.ty).clone()),
        }
    }
    let parens = sig.paren_token.span.join();
    match kind {
        Kind::Tool => {
            const SHAPE: &str = "expected `async fn f(args: Args)` or `async fn f(ctx: RequestContext, args: Args)`, where `Args: Deserialize + JsonSchema`";
            match types.as_slice() {
                [] => Err(syn::Error::new(
                    parens,
                    format!("a tool takes an arguments parameter; {SHAPE}"),
                )),
                [a] if is_context(a) => Err(syn::Error::new(
                    parens,
                    format!("a tool takes an arguments parameter after the context; {SHAPE}"),
                )),
                [a] => Ok(Params {
                    ctx: false,
                    args: Some(a.clone()),
                }),
                [_, a] if is_context(a) => Err(syn::Error::new_spanned(
                    a,
                    format!("the context comes first; {SHAPE}"),
                )),
                [_, a] => Ok(Params {
                    ctx: true,
                    args: Some(a.clone()),
                }),
                [_, _, extra, ..] => Err(syn::Error::new_spanned(
                    extra,
                    format!("too many parameters; {SHAPE}"),
                )),
            }
        }
        Kind::Prompt => {
            const SHAPE: &str = "expected `async fn f([ctx: RequestContext][, args: PromptArgs])`";
            match types.as_slice() {
                [] => Ok(Params {
                    ctx: false,
                    args: None,
                }),
                [a] if is_context(a) => Ok(Params {
                    ctx: true,
                    args: None,
                }),
                [a] => Ok(Params {
                    ctx: false,
                    args: Some(a.clone()),
                }),
                [_, a] if is_context(a) => Err(syn::Error::new_spanned(
                    a,
                    format!("the context comes first; {SHAPE}"),
                )),
                [_, a] => Ok(Params {
                    ctx: true,
                    args: Some(a.clone()),
                }),
                [_, _, extra, ..] => Err(syn::Error::new_spanned(
                    extra,
                    format!("too many parameters; {SHAPE}"),
                )),
            }
        }
    }
}

fn expand(kind: Kind, attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let f: ItemFn = syn::parse2(item)?;
    expand_fn(kind, attr, f, None).map(|(out, _)| out)
}

/// What `#[collect]` needs to know of one expanded tool or prompt.
struct Registered {
    kind: Kind,
    /// The generated registration function (and module holding `NAME`).
    reg: Ident,
    cfgs: Vec<Attribute>,
}

/// Expand one function; `default_krate` is the `crate = ...` of an enclosing `#[collect]`.
fn expand_fn(
    kind: Kind,
    attr: TokenStream2,
    f: ItemFn,
    default_krate: Option<&Path>,
) -> syn::Result<(TokenStream2, Registered)> {
    let mut opts = parse_options(kind, attr)?;
    if opts.krate.is_none() {
        opts.krate = default_krate.cloned();
    }
    let params = check_fn(kind, &f)?;

    let fn_ident = &f.sig.ident;
    let fn_name = fn_ident.unraw().to_string();
    let name = opts
        .name
        .map(|n| n.value())
        .unwrap_or_else(|| fn_name.clone());
    let description = match (opts.description, doc_comment(&f.attrs)) {
        (Some(d), _) => d.value(),
        (None, Some(doc)) => doc,
        (None, None) => {
            return Err(syn::Error::new(
                fn_ident.span(),
                format!(
                    "the {} needs a description: add `description = \"...\"` to {} or a doc comment to the function",
                    kind.noun(),
                    kind.attr()
                ),
            ))
        }
    };
    let krate = opts
        .krate
        .map(|p| p.into_token_stream())
        .unwrap_or_else(server_path);

    // Locals of the generated code are hygienic, so they cannot shadow the user's function.
    let builder = Ident::new("builder", Span::mixed_site());
    let ctx = Ident::new("ctx", Span::mixed_site());
    let args = Ident::new("args", Span::mixed_site());
    let call_args = match (params.ctx, params.args.is_some()) {
        (true, true) => quote!(#ctx, #args),
        (true, false) => quote!(#ctx),
        (false, true) => quote!(#args),
        (false, false) => quote!(),
    };
    // Type errors in the handler (bad argument or return types) point at the function's signature.
    let sig_span = f.sig.span();
    let vis = &f.vis;
    let cfgs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"));
    let reg = format_ident!("{}_{}", fn_name, kind.noun(), span = fn_ident.span());

    let body = match kind {
        Kind::Tool => {
            let args_ty = params.args.as_ref().expect("checked: a tool has arguments");
            quote_spanned! {sig_span=>
                #builder.typed_tool(#name, #description, |#ctx, #args: #args_ty| #fn_ident(#call_args))
            }
        }
        Kind::Prompt => {
            // `mcp_server::protocol` is `mcp_protocol`, so one path is enough unless the caller says otherwise.
            let proto = opts
                .protocol
                .map(|p| p.into_token_stream())
                .unwrap_or_else(|| quote!(#krate::protocol));
            let arguments = match opts.arguments {
                Some(list) if !list.is_empty() => {
                    let items = list.iter().map(|a| {
                        let n = LitStr::new(&a.name, a.span);
                        let opt = |v: &Option<LitStr>| match v {
                            Some(s) => {
                                quote!(::std::option::Option::Some(::std::string::String::from(#s)))
                            }
                            None => quote!(::std::option::Option::None),
                        };
                        let (d, t, r) = (opt(&a.description), opt(&a.title), a.required);
                        quote! {
                            #proto::types::PromptArgument {
                                name: ::std::string::String::from(#n),
                                title: #t,
                                description: #d,
                                required: ::std::option::Option::Some(#r),
                            }
                        }
                    });
                    quote!(::std::option::Option::Some(::std::vec![#(#items),*]))
                }
                _ => quote!(::std::option::Option::None),
            };
            let args_ty = match &params.args {
                Some(t) => t.to_token_stream(),
                None => quote!(#krate::PromptArgs),
            };
            let handler = quote_spanned! {sig_span=>
                |#ctx: #krate::RequestContext, #args: #args_ty| #fn_ident(#call_args)
            };
            quote! {
                #builder.prompt(
                    #proto::types::Prompt {
                        name: ::std::string::String::from(#name),
                        description: ::std::option::Option::Some(::std::string::String::from(#description)),
                        arguments: #arguments,
                        ..::std::default::Default::default()
                    },
                    #handler,
                )
            }
        }
    };
    let doc = format!(
        " Registers the {noun} `{name}`, served by `{fn_name}`, with a server builder \
         (generated by `{attr}`); its wire name is [`{reg}::NAME`](mod@{reg}).",
        noun = kind.noun(),
        attr = kind.attr(),
    );
    let mod_doc = format!(
        " The {noun} registered by [`{reg}()`](fn@{reg}): its wire name and description \
         (generated by `{attr}`).",
        noun = kind.noun(),
        attr = kind.attr(),
    );
    let name_doc = format!(" The {}'s wire name: `{name}`.", kind.noun());
    let description_doc = format!(" The {}'s description.", kind.noun());
    let cfgs: Vec<Attribute> = cfgs.cloned().collect();
    let registered = Registered {
        kind,
        reg: reg.clone(),
        cfgs: cfgs.clone(),
    };
    // A module and a function may share a name (types and values are separate namespaces), so the wire name
    // is found beside the registration function: `div_tool(builder)` registers `div_tool::NAME`.
    let out = quote! {
        #f

        #[doc = #doc]
        #(#cfgs)*
        #vis fn #reg(#builder: #krate::ServerBuilder) -> #krate::ServerBuilder {
            #body
        }

        #[doc = #mod_doc]
        #(#cfgs)*
        // Unused constants are fine; an unused registration function (above) is what `dead_code` should catch.
        #[allow(dead_code)]
        #vis mod #reg {
            #[doc = #name_doc]
            pub const NAME: &str = #name;
            #[doc = #description_doc]
            pub const DESCRIPTION: &str = #description;
        }
    };
    Ok((out, registered))
}

/// The path of `mcp-server` as the crate being compiled reaches it.
///
/// Through the facade when the crate depends on `mcp` (under any name), else `mcp-server` directly, read from
/// the crate's `Cargo.toml`. When neither is found (a build without cargo, say) the facade's path is used, so
/// rustc's error names the crate to add.
fn server_path() -> TokenStream2 {
    use proc_macro_crate::{crate_name, FoundCrate};
    match crate_name(FACADE.package) {
        // Examples, tests and doctests of `mcp` itself see it as `::mcp`; the library says
        // `extern crate self as mcp` so the same path works inside it.
        Ok(FoundCrate::Itself) => return quote!(::mcp::__private::mcp_server),
        Ok(FoundCrate::Name(n)) => {
            let n = FACADE.name_in_code(&n);
            return quote!(::#n::__private::mcp_server);
        }
        Err(_) => {}
    }
    match crate_name(SERVER.package) {
        Ok(FoundCrate::Itself) => quote!(::mcp_server),
        Ok(FoundCrate::Name(n)) => {
            let n = SERVER.name_in_code(&n);
            quote!(::#n)
        }
        Err(_) => quote!(::mcp::__private::mcp_server),
    }
}

/// A package the expansion may name: its name on crates.io, and the shorter name of its library.
struct Package {
    package: &'static str,
    lib: &'static str,
}

const FACADE: Package = Package {
    package: "mcp-rs",
    lib: "mcp",
};
const SERVER: Package = Package {
    package: "mcp-rs-server",
    lib: "mcp_server",
};

impl Package {
    /// The crate's name in code, from what `proc-macro-crate` found: the dependency's key in `Cargo.toml`
    /// (or, in an integration test of the package itself, the package name), with `-` as `_`. A key that
    /// renames the package (`mcp = { package = "mcp-rs" }`) is the name in code; a key that is just the
    /// package name (`mcp-rs = "0.1"`) means the library's own name (`mcp`), which cargo uses then.
    fn name_in_code(&self, found: &str) -> Ident {
        let name = if found == self.package.replace('-', "_") {
            self.lib
        } else {
            found
        };
        Ident::new(name, Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dependency's key is its name in code only when it renames the package; the package name itself
    /// stands for the library's shorter name.
    #[test]
    fn names_in_code_follow_cargo() {
        assert_eq!(FACADE.name_in_code("mcp_rs").to_string(), "mcp");
        assert_eq!(FACADE.name_in_code("mcp").to_string(), "mcp");
        assert_eq!(FACADE.name_in_code("sdk").to_string(), "sdk");
        assert_eq!(
            SERVER.name_in_code("mcp_rs_server").to_string(),
            "mcp_server"
        );
        assert_eq!(SERVER.name_in_code("mcp_server").to_string(), "mcp_server");
        assert_eq!(SERVER.name_in_code("srv").to_string(), "srv");
    }

    fn err(kind: Kind, attr: TokenStream2, item: TokenStream2) -> String {
        match expand(kind, attr, item) {
            Ok(out) => panic!("expected an error, got {out}"),
            Err(e) => e.to_string(),
        }
    }

    fn ok(kind: Kind, attr: TokenStream2, item: TokenStream2) -> String {
        expand(kind, attr, item)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string()
    }

    #[test]
    fn rejects_a_non_async_fn() {
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                fn f(a: A) -> Result<String, Error> {}
            ),
        );
        assert_eq!(e, "#[tool] needs an `async fn`: write `async fn f(..)`");
    }

    #[test]
    fn rejects_wrong_arity() {
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f() -> Result<String, Error> {}
            ),
        );
        assert!(e.starts_with("a tool takes an arguments parameter"), "{e}");
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f(c: RequestContext) -> Result<String, Error> {}
            ),
        );
        assert!(e.contains("after the context"), "{e}");
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f(c: RequestContext, a: A, b: B) -> Result<String, Error> {}
            ),
        );
        assert!(e.starts_with("too many parameters"), "{e}");
        let e = err(
            Kind::Prompt,
            quote!(description = "d"),
            quote!(
                async fn f(
                    a: PromptArgs,
                    c: mcp_server::RequestContext,
                ) -> Result<GetPromptResult, Error> {
                }
            ),
        );
        assert!(e.starts_with("the context comes first"), "{e}");
    }

    #[test]
    fn rejects_a_missing_description() {
        let e = err(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f(a: A) -> Result<String, Error> {}
            ),
        );
        assert!(e.starts_with("the tool needs a description"), "{e}");
        let e = err(
            Kind::Prompt,
            quote!(name = "p"),
            quote!(
                #[doc = "   "]
                async fn f() -> Result<GetPromptResult, Error> {}
            ),
        );
        assert!(e.starts_with("the prompt needs a description"), "{e}");
    }

    #[test]
    fn rejects_other_shapes() {
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f<T>(a: T) -> Result<String, Error> {}
            ),
        );
        assert_eq!(e, "#[tool] functions cannot be generic");
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f(&self, a: A) -> Result<String, Error> {}
            ),
        );
        assert_eq!(e, "#[tool] needs a free function, not a method");
        let e = err(
            Kind::Tool,
            quote!(description = "d"),
            quote!(
                async fn f(a: A) {}
            ),
        );
        assert!(e.starts_with("#[tool] functions must return"), "{e}");
    }

    #[test]
    fn rejects_bad_options() {
        let e = err(
            Kind::Tool,
            quote!(arguments(a)),
            quote!(
                async fn f(a: A) -> Result<String, Error> {}
            ),
        );
        assert!(e.starts_with("unknown option"), "{e}");
        let e = err(
            Kind::Tool,
            quote!(name = "a", name = "b"),
            quote!(
                async fn f(a: A) -> Result<String, Error> {}
            ),
        );
        assert_eq!(e, "duplicate `name`");
        let e = err(
            Kind::Prompt,
            quote!(description = "d", arguments(a, a(required))),
            quote!(
                async fn f() -> Result<GetPromptResult, Error> {}
            ),
        );
        assert_eq!(e, "duplicate prompt argument `a`");
        let e = err(
            Kind::Prompt,
            quote!(description = "d", arguments(a(optional))),
            quote!(
                async fn f() -> Result<GetPromptResult, Error> {}
            ),
        );
        assert!(e.starts_with("unknown argument option"), "{e}");
    }

    #[test]
    fn uses_the_crate_and_protocol_overrides() {
        let out = ok(
            Kind::Prompt,
            quote!(
                crate = mcp::server,
                protocol = "mcp::protocol",
                description = "d"
            ),
            quote!(
                async fn p() -> Result<GetPromptResult, Error> {}
            ),
        );
        assert!(out.contains("mcp :: server :: ServerBuilder"), "{out}");
        assert!(out.contains("mcp :: protocol :: types :: Prompt"), "{out}");
        assert!(!out.contains("mcp_server"), "{out}");
        assert!(!out.contains("mcp_protocol"), "{out}");
    }

    #[test]
    fn reads_the_doc_comment() {
        let attrs: Vec<Attribute> = syn::parse_quote! {
            #[doc = " First line."]
            #[doc = ""]
            #[doc = "   indented  "]
            #[inline]
        };
        assert_eq!(
            doc_comment(&attrs).as_deref(),
            Some("First line.\n\n  indented")
        );
    }
}
