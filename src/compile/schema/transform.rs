//! Transformation chains (`| trim | truncate(40)`): each step's function looked up,
//! its arguments named and compiled once by the function, the type it yields; what a
//! `custom` script reads.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::{list, Sx, TaskKey};
use crate::compile::ir;
use crate::compile::types::Ty;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::functions::{self, CompileContext};
use crate::syntax::ast::{self, Span};

impl Sx<'_, '_> {
    pub(super) fn steps(
        &mut self,
        steps: &[ast::Transformation],
        mut ty: Ty,
    ) -> (Option<Vec<ir::Step>>, Ty) {
        let mut out = Some(Vec::new());
        for t in steps {
            let step = self.step(t, &ty);
            ty = step.1;
            match (step.0, out.as_mut()) {
                (Some(s), Some(v)) => v.push(s),
                _ => out = None,
            }
        }
        (out, ty)
    }

    fn step(&mut self, t: &ast::Transformation, input: &Ty) -> (Option<ir::Step>, Ty) {
        let Some(function) = functions::lookup(&t.name.node) else {
            let names: Vec<&str> = functions::all()
                .iter()
                .map(|f| f.signature().name)
                .collect();
            let d = Diagnostic::new(
                Code::UnknownTransformation,
                t.name.span,
                format!("unknown transformation `{}`", t.name.node),
            );
            self.push(match did_you_mean(&t.name.node, names.iter().copied()) {
                Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("write `| {s}`")),
                None => d
                    .with_label("not a transformation")
                    .with_help("docs/functions.md lists the transformations; `custom(\"...\")` runs an expression"),
            });
            return (None, Ty::Any);
        };
        let sig = function.signature();
        let ty = Ty::of_returns(sig.returns, input.clone());

        // Name the arguments: positional ones by the parameters' order.
        let mut config = Map::new();
        let mut spans: HashMap<&'static str, Span> = HashMap::new();
        let mut ok = true;
        let mut position = 0;
        let params = list(&sig.params.iter().map(|p| p.name).collect::<Vec<_>>());
        for arg in &t.args {
            let param = match &arg.name {
                None => {
                    let p = sig.params.get(position);
                    position += 1;
                    match p {
                        Some(p) => p,
                        None => {
                            ok = false;
                            let takes = match sig.params.len() {
                                0 => "no argument".to_string(),
                                1 => "1 argument".to_string(),
                                n => format!("{n} arguments"),
                            };
                            let help = if sig.params.is_empty() {
                                format!("remove the arguments: `| {}`", sig.name)
                            } else {
                                format!("remove it: `{}` takes {params}", sig.name)
                            };
                            self.push(
                                Diagnostic::new(
                                    Code::ConfigType,
                                    arg.value.span,
                                    format!(
                                        "`{}` takes {takes} but {} given",
                                        sig.name,
                                        match positional(&t.args) {
                                            1 => "1 was".to_string(),
                                            n => format!("{n} were"),
                                        }
                                    ),
                                )
                                .with_label("unexpected argument")
                                .with_help(help),
                            );
                            continue;
                        }
                    }
                }
                Some(n) => match sig.params.iter().find(|p| p.name == n.node) {
                    Some(p) => p,
                    None => {
                        let names = sig.params.iter().map(|p| p.name);
                        let d = Diagnostic::new(
                            Code::UnknownConfigKey,
                            n.span,
                            format!("unknown config key `{}` for `{}`", n.node, sig.name),
                        );
                        self.push(match did_you_mean(&n.node, names) {
                            Some(s) => d
                                .with_label(format!("did you mean `{s}`?"))
                                .with_help(format!("write `{s}: ...`")),
                            None if sig.params.is_empty() => d.with_label("ignored").with_help(
                                format!("`{}` takes no configuration: remove it", sig.name),
                            ),
                            None => d
                                .with_label("ignored")
                                .with_help(format!("`{}` takes {params}", sig.name)),
                        });
                        continue;
                    }
                },
            };
            let span = arg
                .name
                .as_ref()
                .map_or(arg.value.span, |n| n.span.to(arg.value.span));
            if let Some(first) = spans.get(param.name) {
                ok = false;
                self.push(
                    Diagnostic::new(
                        Code::ConfigType,
                        span,
                        format!("`{}` is given twice", param.name),
                    )
                    .with_label("given again here")
                    .with_related(*first, "first given here")
                    .with_help("remove one of the two"),
                );
                continue;
            }
            spans.insert(param.name, span);
            config.insert(param.name.to_string(), arg.value.node.clone());
        }

        if sig.name == "custom" {
            self.scan_script(&config, spans.get("expression").copied().unwrap_or(t.span));
        }

        let ctx = CompileContext {
            rates: self.cx.rates,
            sandbox: self.cx.sandbox,
        };
        match function.compile(&config, &ctx) {
            Ok(transform) if ok => (
                Some(ir::Step {
                    name: sig.name,
                    transform,
                }),
                ty,
            ),
            Ok(_) => (None, ty),
            Err(errors) => {
                for e in errors {
                    let (span, label) = match spans.get(e.param) {
                        Some(s) => (*s, format!("this `{}`", e.param)),
                        None => (t.span, format!("`{}` is missing", e.param)),
                    };
                    let mut d = Diagnostic::new(e.code, span, e.message).with_label(label);
                    d.help = e
                        .help
                        .or_else(|| Some(format!("`{}` takes {params}", sig.name)));
                    self.push(d);
                }
                (None, ty)
            }
        }
    }

    /// A custom script's `task.KEY` / `task["KEY"]` reads and whether it reads `record`.
    fn scan_script(&mut self, config: &Map<String, Value>, span: Span) {
        static TASK_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
            Regex::new(r#"\btask\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*"([^"]+)"\s*\])"#).ok()
        });
        let Some(Value::String(expr)) = config.get("expression") else {
            return;
        };
        static TASK: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\btask\b").ok());
        let mut keyed = 0;
        if let Some(re) = TASK_KEY.as_ref() {
            for c in re.captures_iter(expr) {
                if let Some(k) = c.get(1).or_else(|| c.get(2)) {
                    keyed += 1;
                    self.task_keys.push(TaskKey {
                        key: k.as_str().to_string(),
                        span,
                    });
                }
            }
        }
        // Any other mention of `task` (passed on whole, indexed by a variable) may read
        // any key: a task's config is then not held to the keys seen here.
        if TASK
            .as_ref()
            .is_some_and(|re| re.find_iter(expr).count() > keyed)
        {
            self.whole_task = true;
        }
        if self
            .cx
            .sandbox
            .compile(expr)
            .is_ok_and(|s| s.reads_record())
        {
            self.whole_record = true;
        }
    }
}

fn positional(args: &[ast::Arg]) -> usize {
    args.iter().filter(|a| a.name.is_none()).count()
}
