//! The words programs are made of: numbers, sizes, names, operators,
//! builtins and methods where engines tend to go wrong.

/// Integer literals that reach interesting engine paths (Smi bounds, array
/// index bounds, sizes near V8's limits).
pub(super) const INTERESTING_INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "31",
    "32",
    "64",
    "255",
    "256",
    "1000",
    "65535",
    "65536",
    "1073741823",
    "1073741824",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740991",
    "9007199254740993",
    "1e21",
    "0.1",
    "1.5",
    "NaN",
    "Infinity",
    "-0",
    "-1",
    "1e308",
    "5e-324",
];

/// Sizes for loops and allocations: small and medium ones...
pub(super) const SMALL_SIZES: &[&str] = &["0", "1", "3", "16", "1000"];
/// ...and ones large enough to hit the timeout or the heap limit. Those
/// cost the fuzzer most of its time (an allocation refused at the heap
/// limit first runs full garbage collections), so [`size`](super::Generator::size)
/// picks one of them only one time in eight.
pub(super) const LARGE_SIZES: &[&str] = &["100000", "1e6", "1e7", "2**28"];

pub(super) const PROPERTY_NAMES: &[&str] = &[
    "a",
    "b",
    "length",
    "x",
    "0",
    "constructor",
    "prototype",
    "toString",
    "valueOf",
    "then",
    "name",
    "size",
];

pub(super) const BINARY_OPERATORS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    ">>>",
    "==",
    "===",
    "!=",
    "!==",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "??",
    "in",
    "instanceof",
    ",",
];

pub(super) const UNARY_OPERATORS: &[&str] = &["-", "+", "!", "~", "typeof ", "void "];

/// Regular expressions that are valid with and without the `u` flag.
pub(super) const REGEX_ATOMS: &[&str] = &[
    "a", "b+", "[a-z]*", "(x|y)", "\\d", ".", "^", "$", "(?:ab)", "a{1,3}", "\\w+", "(a*)*",
    "[^b]", "\\b", "\\s?", "(?=a)", "(?!b)",
];
pub(super) const REGEX_FLAGS: &[&str] = &["", "g", "i", "gi", "m", "s", "u", "y", "gu", "d"];

pub(super) const TYPED_ARRAYS: &[&str] = &[
    "Uint8Array",
    "Int8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
];

/// Builtin calls taking one argument.
pub(super) const UNARY_BUILTINS: &[&str] = &[
    "String",
    "Number",
    "Boolean",
    "BigInt",
    "Object.keys",
    "Object.entries",
    "Object.freeze",
    "Object.getPrototypeOf",
    "Array.from",
    "Array.isArray",
    "JSON.stringify",
    "Math.abs",
    "Math.floor",
    "parseInt",
    "parseFloat",
    "isNaN",
    "Symbol",
    "Promise.resolve",
    "structuredClone",
    "Reflect.ownKeys",
    "encodeURIComponent",
    "escape",
];

/// Method calls, printed after a receiver: `(receiver)<method>`.
pub(super) const METHODS: &[&str] = &[
    ".toString()",
    ".valueOf()",
    ".slice(1)",
    ".concat([1])",
    ".join('-')",
    ".split('')",
    ".map(x => x)",
    ".filter(Boolean)",
    ".reverse()",
    ".sort()",
    ".at(-1)",
    ".flat(Infinity)",
    ".toFixed(2)",
    ".padStart(10, '*')",
    ".includes(1)",
    ".indexOf('a')",
    ".charCodeAt(0)",
    ".normalize('NFD')",
    ".localeCompare('b')",
    ".toUpperCase()",
    ".replaceAll('a', 'b')",
    ".push(1)",
    ".fill(0)",
    ".keys().next()",
    ".subarray(1)",
    ".buffer",
    "[Symbol.iterator]().next()",
];
