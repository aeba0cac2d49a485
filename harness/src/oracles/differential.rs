//! The differential oracles: one [`jitgen`](crate::generators::jitgen)
//! program run in two configurations (V8's interpreter and TurboFan; V8 and
//! QuickJS) must print the same. Each run makes a *printout*: one line per
//! call of the program's `target`, a canonical text of what it returned or
//! threw (`-0`, `NaN`, holes, property order and prototypes included).
//! Known-legitimate differences are filtered by the triage tables below;
//! anything else is a finding and panics with both printouts.

use v8cage::{Error, Value};

/// The canonical printer, a JS function expression that runs unchanged in
/// every engine (ES2020). Long strings and arrays are printed by length and
/// samples, so a printout stays small whatever the program built.
const PRINTER: &str = r#"(function () {
  const seen = [];
  function str(s) {
    if (s.length <= 96) return JSON.stringify(s);
    let sample = '';
    for (let i = 0; i < 32; i++) sample += s[Math.floor(i * (s.length - 1) / 31)];
    return 'string(' + s.length + ')' + JSON.stringify(s.slice(0, 32) + '|' + sample + '|' + s.slice(-32));
  }
  function print(v, depth) {
    switch (typeof v) {
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return String(v) + 'n';
      case 'string': return str(v);
      case 'boolean': return String(v);
      case 'undefined': return 'undefined';
      case 'symbol': return 'Symbol(' + str(String(v.description)) + ')';
      case 'function': return 'function ' + str(v.name) + '/' + v.length;
    }
    if (v === null) return 'null';
    const proto = Object.getPrototypeOf(v);
    const kind = proto === null ? 'null' : (proto.constructor && typeof proto.constructor.name === 'string' ? proto.constructor.name : '?');
    if (v instanceof Error) return kind + '(' + str(String(v.name)) + ')';
    if (depth > 3) return kind + '{…}';
    if (seen.includes(v)) return kind + '<cycle>';
    seen.push(v);
    const parts = [];
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      parts.push('length=' + v.length);
      for (let i = 0; i < v.length && i < 48; i++) parts.push(i in v ? print(v[i], depth + 1) : '<hole>');
    }
    const keys = Object.keys(v);
    let shown = 0;
    for (const k of keys) {
      if ((Array.isArray(v) || ArrayBuffer.isView(v)) && String(k >>> 0) === k && (k >>> 0) < v.length) continue;
      if (shown++ >= 32) { parts.push('…' + keys.length + ' keys'); break; }
      parts.push(str(k) + ': ' + print(v[k], depth + 1));
    }
    seen.pop();
    return kind + '[' + parts.join(', ') + ']';
  }
  return v => print(v, 0);
})()"#;

/// One configuration's printout, or why there is none to compare.
#[derive(Debug)]
pub enum Printout {
    Lines(Vec<String>),
    /// The run hit a resource limit (time, memory): its output is incomplete
    /// and is not compared.
    Cut(String),
}

impl Printout {
    /// The printout of a V8 run: the driver's string, or a limit.
    pub fn from_v8(result: &Result<Value, Error>) -> Printout {
        match result {
            Ok(Value::String(text)) => Printout::Lines(text.lines().map(str::to_owned).collect()),
            Err(e @ (Error::Timeout | Error::OutOfMemory | Error::Terminated)) => {
                Printout::Cut(e.to_string())
            }
            // Thrown outside the calls (the program's own set-up, or a
            // printer that overflowed the stack): compared by name.
            Err(Error::Exception { name, message, .. }) => {
                Printout::Lines(vec![format!("uncaught throw {name}: {message}")])
            }
            other => panic!("differential driver gave {other:?}"),
        }
    }
}

/// How a configuration calls the program's `target`: `rounds` times over
/// all inputs; before each call of a round, that round's `before_call`
/// (e.g. `%OptimizeFunctionOnNextCall(target);`), and before the round
/// starts, its `before_round`.
pub struct Protocol {
    /// Names the configuration in findings; also written into the script as
    /// a comment, so that two configurations never share V8's compilation
    /// cache (and with it optimisation decisions about the same functions).
    pub name: &'static str,
    pub setup: &'static str,
    pub rounds: &'static [Round],
}

pub struct Round {
    pub before_round: &'static str,
    pub before_call: &'static str,
}

/// Four plain rounds (as many as any protocol has): how any engine runs
/// the program cold.
pub const PLAIN_ROUNDS: &[Round] = &[
    Round {
        before_round: "",
        before_call: "",
    },
    Round {
        before_round: "",
        before_call: "",
    },
    Round {
        before_round: "",
        before_call: "",
    },
    Round {
        before_round: "",
        before_call: "",
    },
];

/// V8's interpreter: the target is never optimised (helpers might be,
/// naturally, as in any run).
pub const INTERPRETED: Protocol = Protocol {
    name: "interpreter",
    setup: "%NeverOptimizeFunction(target);",
    rounds: PLAIN_ROUNDS,
};

/// TurboFan: feedback from a first round, then each call compiled afresh,
/// then one optimised code object over every input (deoptimising where the
/// feedback does not fit), then the interpreter again after a forced
/// deoptimisation.
pub const OPTIMIZED: Protocol = Protocol {
    name: "TurboFan",
    setup: "%PrepareFunctionForOptimization(target);",
    rounds: &optimizing_rounds("%OptimizeFunctionOnNextCall(target);"),
};

/// Maglev (V8 12 and later), the mid tier, under TurboFan's protocol.
pub const MAGLEV: Protocol = Protocol {
    name: "Maglev",
    setup: "%PrepareFunctionForOptimization(target);",
    rounds: &optimizing_rounds("%OptimizeMaglevOnNextCall(target);"),
};

/// The optimising protocol's rounds for the tier `optimize` requests.
const fn optimizing_rounds(optimize: &'static str) -> [Round; 4] {
    [
        Round {
            before_round: "",
            before_call: "",
        },
        Round {
            before_round: "",
            before_call: optimize,
        },
        Round {
            before_round: optimize,
            before_call: "",
        },
        Round {
            before_round: "%DeoptimizeFunction(target);",
            before_call: "",
        },
    ]
}

/// The optimising tiers `jit_diff` compares with the interpreter, on the V8
/// running: Maglev where it exists (V8 10.2 has none; its
/// `%OptimizeMaglevOnNextCall` does nothing). Sparkplug, the baseline tier,
/// is `config_diff`'s `always-sparkplug` set: our V8 15.2 leaves
/// `%CompileBaseline` without effect (probed: the status never shows
/// baseline code), so a protocol asking for it would compare nothing new.
pub fn optimizing_tiers() -> &'static [Protocol] {
    if v8cage::v8_version().starts_with("10.") {
        std::slice::from_ref(&OPTIMIZED)
    } else {
        &[MAGLEV, OPTIMIZED]
    }
}

/// V8 flag sets for `config_diff` (foozzie-style) on the V8 running, each
/// in a worker process of its own and compared with a worker on V8's
/// defaults. Every set also has `--predictable` and a fixed seed, so that
/// nothing but the named flags differs. V8 ignores a flag it does not
/// know, so each engine gets only flags it has: 10.2's `--always-opt` is
/// gone from 15.2, which has Maglev instead.
pub fn flag_configurations() -> &'static [(&'static str, &'static str)] {
    if v8cage::v8_version().starts_with("10.") {
        V8_10_FLAG_CONFIGURATIONS
    } else {
        CURRENT_FLAG_CONFIGURATIONS
    }
}

const V8_10_FLAG_CONFIGURATIONS: &[(&str, &str)] = &[
    ("jitless", "--jitless"),
    ("always-opt", "--always-opt"),
    ("no-opt", "--no-opt --no-sparkplug"),
    ("always-sparkplug", "--always-sparkplug"),
    ("no-lazy-feedback", "--no-lazy-feedback-allocation"),
    ("stress-inline", "--stress-inline"),
    ("deopt-every-3", "--deopt-every-n-times=3"),
    ("no-turbo-inlining", "--no-turbo-inlining"),
];

const CURRENT_FLAG_CONFIGURATIONS: &[(&str, &str)] = &[
    ("jitless", "--jitless"),
    ("no-opt", "--no-turbofan --no-maglev --no-sparkplug"),
    ("always-sparkplug", "--always-sparkplug"),
    ("no-lazy-feedback", "--no-lazy-feedback-allocation"),
    ("stress-inline", "--stress-inline"),
    ("deopt-every-3", "--deopt-every-n-times=3"),
    ("no-turbo-inlining", "--no-turbo-inlining"),
    ("no-maglev", "--no-maglev"),
    ("stress-maglev", "--stress-maglev"),
    ("maglev-top-tier", "--no-turbofan"),
];

/// What every `config_diff` worker gets, the baseline too.
pub const DETERMINISTIC_FLAGS: &str = "--predictable --random-seed=1234";

/// How every `config_diff` worker runs the program (the flags differ).
pub const PLAIN: Protocol = Protocol {
    name: "plain",
    setup: "",
    rounds: PLAIN_ROUNDS,
};

/// QuickJS runs what V8's interpreter runs, without intrinsics.
pub const QUICKJS: Protocol = Protocol {
    name: "QuickJS",
    setup: "",
    rounds: PLAIN_ROUNDS,
};

/// The script that runs `program` (a [`jitgen`](crate::generators::jitgen)
/// factory) under `protocol` and evaluates to its printout. `perturb` marks
/// every call's result with a leading `~` (the planted difference that proves an
/// oracle can fail); it is false everywhere else.
pub fn driver(protocol: &Protocol, program: &str, perturb: bool) -> String {
    let mark = if perturb { "'~' + " } else { "" };
    let mut rounds = String::new();
    for (n, round) in protocol.rounds.iter().enumerate() {
        rounds.push_str(&format!(
            "{}\nround('r{n}', () => {{ {} }});\n",
            round.before_round, round.before_call
        ));
    }
    format!(
        "// configuration: {name}\n(function () {{\nconst print = {printer};\n\
         const made = ({program})();\nconst target = made[0], inputs = made[1];\n\
         const out = [];\n\
         function round(tag, before) {{\n  for (let i = 0; i < inputs.length; i++) {{\n    \
         let line;\n    before();\n    \
         try {{ line = 'return ' + print(target(...inputs[i])); }}\n    \
         catch (e) {{ line = 'throw ' + (e instanceof Error ? e.name + ': ' + e.message : print(e)); }}\n    \
         out.push(tag + '.' + i + ' ' + {mark}line);\n  }}\n}}\n{setup}\n{rounds}return out.join('\\n');\n}})()",
        name = protocol.name,
        printer = PRINTER,
        setup = protocol.setup,
    )
}

/// A difference the engines or tiers are allowed to have, recognised in one
/// pair of differing lines.
pub struct Legitimate {
    pub why: &'static str,
    pub applies: fn(&Difference<'_>) -> bool,
}

/// What a triage rule looks at: the two differing lines, and whether the
/// program uses implementation-approximated math.
pub struct Difference<'a> {
    pub left: &'a str,
    pub right: &'a str,
    pub approximated_math: bool,
}

impl Difference<'_> {
    fn either(&self, f: impl Fn(&str) -> bool) -> bool {
        f(self.left) || f(self.right)
    }
}

/// `r1.0 throw RangeError: Maximum ...` -> `RangeError`.
fn thrown_name(line: &str) -> Option<&str> {
    let rest = line.split_once(" throw ")?.1;
    Some(rest.split(':').next().unwrap_or(rest))
}

/// Whether two lines differ only inside numbers (digits, `.`, exponents).
fn same_but_numbers(left: &str, right: &str) -> bool {
    fn shape(line: &str) -> String {
        let mut out = String::new();
        let mut in_number = false;
        for c in line.chars() {
            let numeric = c.is_ascii_digit() || (in_number && matches!(c, '.' | 'e' | '+' | '-'));
            if numeric && !in_number {
                out.push('#');
            } else if !numeric {
                out.push(c);
            }
            in_number = numeric;
        }
        out
    }
    shape(left) == shape(right)
}

fn is_stack_overflow(line: &str) -> bool {
    line.contains("Maximum call stack size exceeded")
        || line.contains("InternalError: stack overflow")
        || line.contains("RangeError: stack overflow")
}

/// Interpreter vs TurboFan: the same engine, so only what depends on frame
/// sizes may differ.
pub const JIT_TRIAGE: &[Legitimate] = &[Legitimate {
    why: "stack overflow depth differs between tiers (frame sizes)",
    applies: |c| c.either(is_stack_overflow),
}];

/// RangeErrors V8 throws where its own limits (not the spec's) end a
/// computation; QuickJS's limits are elsewhere.
const V8_LIMIT_MESSAGES: &[&str] = &[
    "Invalid string length",
    "Invalid array length",
    "Maximum BigInt size exceeded",
    "Array buffer allocation failed",
    "Invalid typed array length",
];

/// V8 vs QuickJS: engines with their own messages, limits and math
/// libraries. Every rule is one documented reason; everything else is a
/// finding (V8 bug, QuickJS bug, or a generator assumption to fix).
pub const QUICKJS_TRIAGE: &[Legitimate] = &[
    Legitimate {
        why: "error messages are engine-specific text: only the error's name must agree",
        applies: |c| match (thrown_name(c.left), thrown_name(c.right)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    },
    Legitimate {
        why: "stack depth is an engine limit (V8 RangeError, QuickJS InternalError)",
        applies: |c| c.either(is_stack_overflow),
    },
    Legitimate {
        why: "V8's size limits for strings, arrays, BigInts and buffers are not QuickJS's",
        applies: |c| c.either(|line| V8_LIMIT_MESSAGES.iter().any(|m| line.contains(m))),
    },
    Legitimate {
        why: "QuickJS reports its own size limits and allocation failures as other errors",
        applies: |c| {
            c.either(|line| {
                line.contains("InternalError: out of memory")
                    || line.contains("RangeError: invalid array length")
                    || line.contains("RangeError: invalid string length")
                    || line.contains("RangeError: BigInt is too large")
            })
        },
    },
    Legitimate {
        why: "Math.pow/exp/log/sin/... and ** are implementation-approximated (last bits differ)",
        applies: |c| c.approximated_math && same_but_numbers(c.left, c.right),
    },
];

/// Compares two printouts line by line; panics with both on a difference no
/// triage rule allows. Returns how many differing lines were allowed.
pub fn compare(
    oracle: &str,
    (left_name, left): (&str, &Printout),
    (right_name, right): (&str, &Printout),
    source: &str,
    approximated_math: bool,
    triage: &[Legitimate],
) -> usize {
    let (Printout::Lines(a), Printout::Lines(b)) = (left, right) else {
        return 0;
    };
    let mut allowed = 0;
    let longest = a.len().max(b.len());
    for n in 0..longest {
        let (l, r) = (
            a.get(n).map_or("<missing>", String::as_str),
            b.get(n).map_or("<missing>", String::as_str),
        );
        if l == r {
            continue;
        }
        let context = Difference {
            left: l,
            right: r,
            approximated_math,
        };
        match triage.iter().find(|rule| (rule.applies)(&context)) {
            Some(_) => allowed += 1,
            None => panic!(
                "{oracle}: {left_name} and {right_name} disagree\n  {left_name}: {l}\n  \
                 {right_name}: {r}\nprogram:\n{source}\nfull printouts:\n  {left_name}: {a:#?}\n  \
                 {right_name}: {b:#?}"
            ),
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Printout {
        Printout::Lines(text.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn equal_printouts_pass_and_cut_ones_are_not_compared() {
        let a = lines(&["r0.0 return 1"]);
        assert_eq!(compare("t", ("a", &a), ("b", &a), "", false, &[]), 0);
        let cut = Printout::Cut("timeout".into());
        assert_eq!(compare("t", ("a", &a), ("b", &cut), "", false, &[]), 0);
    }

    #[test]
    #[should_panic(expected = "t: a and b disagree")]
    fn any_other_difference_is_a_finding() {
        let a = lines(&["r0.0 return 1"]);
        let b = lines(&["r0.0 return 2"]);
        compare("t", ("a", &a), ("b", &b), "", false, QUICKJS_TRIAGE);
    }

    #[test]
    #[should_panic(expected = "disagree")]
    fn a_missing_line_is_a_finding() {
        let a = lines(&["r0.0 return 1", "r0.1 return 1"]);
        let b = lines(&["r0.0 return 1"]);
        compare("t", ("a", &a), ("b", &b), "", false, JIT_TRIAGE);
    }

    #[test]
    fn error_names_must_agree_but_messages_may_not() {
        let v8 = lines(&["r0.0 throw TypeError: Cannot read properties of null"]);
        let qjs = lines(&["r0.0 throw TypeError: cannot read property 'x' of null"]);
        assert_eq!(
            compare("t", ("v8", &v8), ("qjs", &qjs), "", false, QUICKJS_TRIAGE),
            1
        );
        let pow = lines(&["r0.0 return 0.30000000000000004"]);
        let libm = lines(&["r0.0 return 0.3"]);
        assert_eq!(
            compare("t", ("v8", &pow), ("qjs", &libm), "", true, QUICKJS_TRIAGE),
            1
        );
        let other = lines(&["r0.0 throw RangeError: x"]);
        let caught = std::panic::catch_unwind(|| {
            compare("t", ("v8", &v8), ("qjs", &other), "", false, QUICKJS_TRIAGE)
        });
        assert!(caught.is_err());
    }
}
