//! Python's exception classes, as scenarios name them: the hierarchy that
//! decides what an `except` clause catches, the `asyncio.`-qualified
//! aliases, and the check that an `except` names a class that exists.
//!
//! A scenario may `raise` a class of its own (any name); it then behaves as
//! a direct subclass of `Exception`. An `except` must name a builtin class or
//! one the scenario raises somewhere: a misspelt class would otherwise never
//! match, silently.

/// Builtin classes (and asyncio's) with their base class, as in CPython
/// 3.11+ (`TimeoutError` is builtin; `CancelledError` derives from
/// `BaseException`).
const CLASSES: &[(&str, &str)] = &[
    ("BaseException", ""),
    ("BaseExceptionGroup", "BaseException"),
    ("GeneratorExit", "BaseException"),
    ("KeyboardInterrupt", "BaseException"),
    ("SystemExit", "BaseException"),
    ("CancelledError", "BaseException"),
    ("Exception", "BaseException"),
    ("ExceptionGroup", "Exception"),
    ("ArithmeticError", "Exception"),
    ("ZeroDivisionError", "ArithmeticError"),
    ("OverflowError", "ArithmeticError"),
    ("FloatingPointError", "ArithmeticError"),
    ("AssertionError", "Exception"),
    ("AttributeError", "Exception"),
    ("LookupError", "Exception"),
    ("IndexError", "LookupError"),
    ("KeyError", "LookupError"),
    ("MemoryError", "Exception"),
    ("NameError", "Exception"),
    ("OSError", "Exception"),
    ("ConnectionError", "OSError"),
    ("BrokenPipeError", "ConnectionError"),
    ("ConnectionAbortedError", "ConnectionError"),
    ("ConnectionRefusedError", "ConnectionError"),
    ("ConnectionResetError", "ConnectionError"),
    ("TimeoutError", "OSError"),
    ("RuntimeError", "Exception"),
    ("NotImplementedError", "RuntimeError"),
    ("RecursionError", "RuntimeError"),
    ("StopIteration", "Exception"),
    ("StopAsyncIteration", "Exception"),
    ("TypeError", "Exception"),
    ("ValueError", "Exception"),
    ("UnicodeError", "ValueError"),
    ("InvalidStateError", "Exception"),
    ("QueueEmpty", "Exception"),
    ("QueueFull", "Exception"),
    ("QueueShutDown", "Exception"),
    ("BrokenBarrierError", "RuntimeError"),
    ("IncompleteReadError", "EOFError"),
    ("EOFError", "Exception"),
    ("LimitOverrunError", "Exception"),
    ("SendfileNotAvailableError", "RuntimeError"),
    // loopsim's simulated services (`[services]`): an error response, a
    // full queue (503), a rate limit (429).
    ("ServiceError", "Exception"),
    ("ServiceUnavailable", "ServiceError"),
    ("TooManyRequests", "ServiceError"),
    // loopsim's own: a run stopped at one of its `[limits]`.
    ("LimitExceeded", "BaseException"),
];

/// `asyncio.TimeoutError` → `TimeoutError` (an alias since 3.11),
/// `asyncio.CancelledError` → `CancelledError`, and the like: the class a
/// qualified name denotes. Other names are returned as they are.
pub fn canonical(name: &str) -> &str {
    let bare = name
        .strip_prefix("asyncio.exceptions.")
        .or_else(|| name.strip_prefix("asyncio."))
        .or_else(|| name.strip_prefix("builtins."))
        .or_else(|| name.strip_prefix("concurrent.futures."));
    match bare {
        Some(b) if is_builtin(b) => b,
        _ => name,
    }
}

/// True for a class Python (or asyncio) defines.
pub fn is_builtin(name: &str) -> bool {
    CLASSES.iter().any(|(c, _)| *c == name)
}

/// Every builtin class name, for "did you mean".
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    CLASSES.iter().map(|(c, _)| *c)
}

/// The base class of `name`: its builtin base, or `Exception` for a class
/// the scenario defines by raising it.
fn base(name: &str) -> Option<&'static str> {
    match CLASSES.iter().find(|(c, _)| *c == name) {
        Some((_, "")) => None,
        Some((_, b)) => Some(b),
        None => Some("Exception"),
    }
}

/// Whether an `except handler` clause catches an exception of class
/// `raised`: `raised` is `handler` or a subclass of it.
pub fn is_subclass(raised: &str, handler: &str) -> bool {
    let handler = canonical(handler);
    let mut class = canonical(raised);
    for _ in 0..CLASSES.len() + 1 {
        if class == handler {
            return true;
        }
        match base(class) {
            Some(b) => class = b,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_catch_subclasses_as_python_does() {
        assert!(is_subclass("ZeroDivisionError", "ArithmeticError"));
        assert!(is_subclass("TimeoutError", "OSError"));
        assert!(is_subclass("ConnectionResetError", "OSError"));
        assert!(is_subclass("RecursionError", "RuntimeError"));
        assert!(is_subclass("MyError", "Exception"));
        assert!(!is_subclass("CancelledError", "Exception"));
        assert!(is_subclass("CancelledError", "BaseException"));
        assert!(!is_subclass("ValueError", "TypeError"));
        assert!(is_subclass("TimeoutError", "asyncio.TimeoutError"));
        assert!(is_subclass("asyncio.CancelledError", "CancelledError"));
    }

    #[test]
    fn qualified_names_are_aliases() {
        assert_eq!(canonical("asyncio.TimeoutError"), "TimeoutError");
        assert_eq!(
            canonical("asyncio.exceptions.CancelledError"),
            "CancelledError"
        );
        assert_eq!(canonical("asyncio.Nope"), "asyncio.Nope");
        assert_eq!(canonical("ValueError"), "ValueError");
    }
}
