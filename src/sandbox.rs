//! The rhai sandbox for `custom` expressions, built in exactly one constructor.
//!
//! A `custom` expression is untrusted code run once per record, so the engine is
//! assembled from [`Engine::new_raw`] with only the packages a mapping needs and every
//! limit set (see [`Sandbox::new`]). Scripts are compiled at check time with strict
//! variables, so a misspelt variable (`valeu`) is a check error, not a runtime surprise.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Scope, AST};
use serde_json::{Map, Value};

/// Wall-clock budget of one evaluation. A mapping expression takes microseconds; this
/// only stops runaway scripts (`loop {}`) quickly enough that one bad record cannot
/// stall a sync.
pub const TIME_LIMIT: Duration = Duration::from_millis(50);

/// Operation budget of one evaluation: deterministic, unlike the clock, and far above
/// what any mapping expression needs.
const MAX_OPERATIONS: u64 = 5_000_000;
const MAX_CALL_LEVELS: usize = 32;
const MAX_EXPR_DEPTH: usize = 64;
const MAX_FN_EXPR_DEPTH: usize = 32;
/// In bytes. Large enough for a long text field of a record (an email body).
const MAX_STRING_SIZE: usize = 4 * 1024 * 1024;
const MAX_ARRAY_SIZE: usize = 100_000;
const MAX_MAP_SIZE: usize = 10_000;
const MAX_VARIABLES: usize = 256;
const MAX_FUNCTIONS: usize = 64;

/// The message of the error raised from `on_progress` when the deadline passes; `eval`
/// turns it into a readable message.
const DEADLINE_TOKEN: &str = "cmap-deadline";

thread_local! {
    /// The deadline of the evaluation running on this thread, if any. `eval` sets it and
    /// clears it; `on_progress` reads it. Thread-local because one `Sandbox` serves every
    /// worker thread at once and each evaluation runs on the thread that called `eval`.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A configured rhai engine. Cheap to clone: the engine is shared.
#[derive(Clone)]
pub struct Sandbox {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

/// A compiled `custom` expression.
#[derive(Clone, Debug)]
pub struct Script {
    ast: Arc<AST>,
    reads_record: bool,
}

impl Script {
    /// Whether the script mentions the variable `record`: when it does, the runtime must
    /// hand it whole source records rather than only the fields the schema names.
    pub fn reads_record(&self) -> bool {
        self.reads_record
    }
}

/// A script that does not compile, with rhai's 1-based position (0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "{} (line {}, column {})",
                self.message, self.line, self.column
            )
        }
    }
}

/// Clears the thread's deadline when an evaluation ends, even by unwinding.
struct DeadlineGuard;

impl DeadlineGuard {
    fn start() -> DeadlineGuard {
        DEADLINE.with(|d| d.set(Some(Instant::now() + TIME_LIMIT)));
        DeadlineGuard
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
    }
}

impl Sandbox {
    /// The only place a rhai engine is built.
    ///
    /// - Packages: arithmetic, logic, math, strings (basic and more), arrays, maps,
    ///   iterators (ranges for `for`) and function pointers. Deliberately absent: the
    ///   language-core package (its `sleep` blocks the thread out of reach of every limit,
    ///   and `exit` is pointless), time (`timestamp()` makes mappings non-deterministic),
    ///   blobs and bit fields (no use in a mapping), and `eval`.
    /// - Modules: `import` is disabled at parse time, and the module resolver is the
    ///   dummy one that finds nothing, so no file is ever read.
    /// - `print` and `debug` are discarded: a mapping has no console, and its output
    ///   must not interleave with cmap's own. Use `cmap test` to see values.
    /// - Limits: operations, call levels, expression depths, string, array and map
    ///   sizes, variables and functions are all bounded, and `on_progress` stops an
    ///   evaluation past [`TIME_LIMIT`] of wall-clock time.
    pub fn new() -> Sandbox {
        let mut engine = Engine::new_raw();
        for package in [
            ArithmeticPackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            BasicStringPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
            BasicIteratorPackage::new().as_shared_module(),
            BasicFnPackage::new().as_shared_module(),
        ] {
            engine.register_global_module(package);
        }

        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.disable_symbol("import");
        engine.disable_symbol("export");
        engine.disable_symbol("eval");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});

        engine.set_strict_variables(true);
        engine.set_max_operations(MAX_OPERATIONS);
        engine.set_max_call_levels(MAX_CALL_LEVELS);
        engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH);
        engine.set_max_string_size(MAX_STRING_SIZE);
        engine.set_max_array_size(MAX_ARRAY_SIZE);
        engine.set_max_map_size(MAX_MAP_SIZE);
        engine.set_max_variables(MAX_VARIABLES);
        engine.set_max_functions(MAX_FUNCTIONS);
        engine.set_max_modules(0);

        engine.on_progress(|ops| {
            // Reading the clock on every operation would dominate cheap scripts.
            if ops % 256 != 0 {
                return None;
            }
            let expired =
                DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline));
            expired.then(|| Dynamic::from(DEADLINE_TOKEN))
        });

        Sandbox {
            engine: Arc::new(engine),
        }
    }

    /// Compiles a script with `value`, `record` and `task` in scope. Any other free
    /// variable is an error (strict variables).
    pub fn compile(&self, expr: &str) -> Result<Script, ScriptError> {
        let ast = self
            .engine
            .compile_with_scope(&scope_names(true), expr)
            .map_err(|e| {
                let pos = e.position();
                ScriptError {
                    message: e.err_type().to_string(),
                    line: pos.line().unwrap_or(0),
                    column: pos.position().unwrap_or(0),
                }
            })?;
        // The script compiled with `record` in scope; if it no longer compiles without
        // it, the only undefined variable can be `record`: the script reads it.
        let reads_record = self
            .engine
            .compile_with_scope(&scope_names(false), expr)
            .is_err();
        Ok(Script {
            ast: Arc::new(ast),
            reads_record,
        })
    }

    /// Evaluates `script` with `value`, `record` (the source record) and `task` (the
    /// task config) bound. The result is converted back to JSON (`()` becomes null).
    ///
    /// Numbers cross into rhai as i64 or f64: an integer above `i64::MAX` arrives as f64.
    pub fn eval(
        &self,
        script: &Script,
        value: Value,
        record: &Value,
        task: &Map<String, Value>,
    ) -> Result<Value, String> {
        let mut scope = Scope::new();
        scope.push_dynamic("value", to_dynamic(&value)?);
        // Converting a whole record costs more than most scripts; skip it when unused.
        let record = if script.reads_record {
            to_dynamic(record)?
        } else {
            Dynamic::UNIT
        };
        scope.push_dynamic("record", record);
        scope.push_dynamic("task", to_dynamic(task)?);

        let result = {
            let _guard = DeadlineGuard::start();
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast)
        };
        let out = result.map_err(|e| describe_eval_error(&e))?;
        let json: Value = rhai::serde::from_dynamic(&out)
            .map_err(|e| format!("the result cannot be written as JSON: {e}"))?;
        if contains_non_finite(&out) {
            return Err("the result is not a finite number".to_string());
        }
        Ok(json)
    }
}

/// A scope declaring the variables a script may read, for compiling.
fn scope_names(with_record: bool) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_dynamic("value", Dynamic::UNIT);
    if with_record {
        scope.push_dynamic("record", Dynamic::UNIT);
    }
    scope.push_dynamic("task", Dynamic::UNIT);
    scope
}

fn to_dynamic<T: serde::Serialize>(v: &T) -> Result<Dynamic, String> {
    rhai::serde::to_dynamic(v).map_err(|e| format!("the input cannot be passed to rhai: {e}"))
}

/// serde_json turns NaN and infinities into null silently; a script that divides by
/// zero in floating point must fail the record instead.
fn contains_non_finite(d: &Dynamic) -> bool {
    if let Ok(f) = d.as_float() {
        return !f.is_finite();
    }
    if let Some(a) = d.read_lock::<rhai::Array>() {
        return a.iter().any(contains_non_finite);
    }
    if let Some(m) = d.read_lock::<rhai::Map>() {
        return m.values().any(contains_non_finite);
    }
    false
}

fn describe_eval_error(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(DEADLINE_TOKEN) =>
        {
            format!(
                "the custom expression exceeded its time limit of {} ms",
                TIME_LIMIT.as_millis()
            )
        }
        EvalAltResult::ErrorTooManyOperations(_) => {
            format!("the custom expression exceeded its limit of {MAX_OPERATIONS} operations")
        }
        other => {
            let pos = other.position();
            let mut message = other.to_string();
            // rhai appends " (line L, position C)" itself for positioned errors; keep the
            // message as rhai words it and only trim the noise.
            if pos.is_none() {
                message = message.trim().to_string();
            }
            message
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, value: Value) -> Result<Value, String> {
        let sandbox = Sandbox::new();
        let record =
            json!({"Id": "003A", "Amount": 5000, "Name": "Ada Lovelace", "Tags": ["a", "b"]});
        let task = json!({"industry": "banking", "multiplier": 3});
        let task = task.as_object().cloned().unwrap_or_default();
        let script = sandbox.compile(expr).map_err(|e| e.to_string())?;
        sandbox.eval(&script, value, &record, &task)
    }

    fn check(expr: &str, value: Value, expect: expect_test::Expect) {
        let actual = match run(expr, value) {
            Ok(v) => format!("ok {v}"),
            Err(e) => format!("err {e}"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn evaluates_expressions() {
        use expect_test::expect;
        check("value * 2", json!(21), expect!["ok 42"]);
        check("value * 0.5", json!(5), expect!["ok 2.5"]);
        check("value + 1", json!(1.5), expect!["ok 2.5"]);
        check("record.Amount / 100", Value::Null, expect!["ok 50"]);
        check(
            "record.Name.split(\" \")[0]",
            Value::Null,
            expect![[r#"ok "Ada""#]],
        );
        check("record.Tags.len()", Value::Null, expect!["ok 2"]);
        check(
            "task.industry.to_upper()",
            Value::Null,
            expect![[r#"ok "BANKING""#]],
        );
        check("value * task.multiplier", json!(2), expect!["ok 6"]);
        check(
            "`${value}-${record.Id}`",
            json!("x"),
            expect![[r#"ok "x-003A""#]],
        );
        check(
            "let v = value; v.trim(); v.sub_string(0, 3)",
            json!("  hello "),
            expect![[r#"ok "hel""#]],
        );
        check(
            "if value > 10 { \"big\" } else { \"small\" }",
            json!(11),
            expect![[r#"ok "big""#]],
        );
        check("let x = value; x.len()", json!([1, 2, 3]), expect!["ok 3"]);
        check(
            "#{ a: value, b: [1, 2] }",
            json!(1),
            expect![[r#"ok {"a":1,"b":[1,2]}"#]],
        );
        check("()", json!(1), expect!["ok null"]);
        check("record.Missing", json!(1), expect!["ok null"]);
        check(
            "print(value); debug(value); value",
            json!(7),
            expect!["ok 7"],
        );
        check(
            "value / 0.0",
            json!(1),
            expect!["err the result is not a finite number"],
        );
        check(
            "value / 0",
            json!(1),
            expect!["err Division by zero: 1 / 0 (line 1, position 7)"],
        );
    }

    #[test]
    fn big_integers_become_floats() {
        use expect_test::expect;
        check(
            "value",
            json!(u64::MAX),
            expect!["ok 1.8446744073709552e+19"],
        );
    }

    #[test]
    fn compile_errors_have_positions() {
        let sandbox = Sandbox::new();
        let err = sandbox.compile("value +\n  * 2").err();
        assert_eq!(
            err.as_ref().map(|e| (e.line, e.column)),
            Some((2, 3)),
            "{err:?}"
        );
        let err = sandbox.compile("valeu * 2").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("Undefined variable: valeu (line 1, column 1)".to_string())
        );
    }

    #[test]
    fn modules_and_eval_are_refused() {
        let sandbox = Sandbox::new();
        assert!(sandbox.compile("import \"x\" as x; value").is_err());
        assert!(sandbox.compile("eval(\"value\")").is_err());
        // `sleep` would block beyond every limit; it is not registered.
        assert!(run("sleep(10); value", json!(1)).is_err_and(|e| e.contains("Function not found")));
    }

    #[test]
    fn runaway_scripts_hit_the_time_limit() {
        let started = Instant::now();
        let result = run("loop {}", json!(1));
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
        assert_eq!(
            result,
            Err("the custom expression exceeded its time limit of 50 ms".to_string())
        );
        // The deadline is per evaluation: the next one gets a fresh budget.
        assert_eq!(run("value + 1", json!(1)), Ok(json!(2)));
    }

    #[test]
    fn huge_allocations_fail() {
        let string = run("let s = \"xxxxxxxx\"; loop { s += s; }", json!(1));
        assert!(
            string
                .as_ref()
                .is_err_and(|e| e.contains("Length of string")),
            "{string:?}"
        );
        let array = run("let a = [1]; a.pad(10000000, 0); a.len()", json!(1));
        assert!(
            array.as_ref().is_err_and(|e| e.contains("Size of array")),
            "{array:?}"
        );
        let recursion = run("fn f(x) { f(x + 1) } f(0)", json!(1));
        assert!(
            recursion
                .as_ref()
                .is_err_and(|e| e.contains("Stack overflow")),
            "{recursion:?}"
        );
    }

    #[test]
    fn reads_record_is_detected() {
        let sandbox = Sandbox::new();
        let reads = |e: &str| {
            sandbox
                .compile(e)
                .map(|s| s.reads_record())
                .map_err(|e| e.to_string())
        };
        assert_eq!(reads("value * 2"), Ok(false));
        assert_eq!(reads("task.x + value"), Ok(false));
        assert_eq!(reads("\"record\" + value"), Ok(false));
        assert_eq!(reads("record.Id"), Ok(true));
        assert_eq!(reads("let r = record; r.Id"), Ok(true));
    }

    #[test]
    fn sandbox_is_shareable() {
        fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
        assert_traits::<Sandbox>();
        assert_traits::<Script>();
    }
}
