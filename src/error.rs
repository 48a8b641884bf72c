//! Errors of simulated tasks, as values: what asyncio would raise.

use thiserror::Error;

/// An error a simulated task raised, or that the loop delivered to it.
///
/// These mirror Python's exceptions so that asyncio's rules carry over:
/// `gather` stops at the first one, `wait_for` turns its own cancellation
/// into [`Error::Timeout`], a panic inside a task becomes [`Error::Panic`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// `asyncio.CancelledError`.
    #[error("CancelledError")]
    Cancelled,
    /// `TimeoutError` (from `wait_for` or `timeout`).
    #[error("TimeoutError")]
    Timeout,
    /// The task panicked; the panic message.
    #[error("task panicked: {0}")]
    Panic(String),
    /// An exception raised by the program: its kind (`ValueError`) and message.
    #[error("{kind}: {message}")]
    Raised {
        /// The exception's class name, e.g. `ValueError`.
        kind: String,
        /// Its message.
        message: String,
    },
    /// `asyncio.InvalidStateError`: e.g. setting the result of a done future.
    #[error("InvalidStateError: {0}")]
    InvalidState(String),
    /// `ExceptionGroup(message, errors)`: what a `TaskGroup` raises when
    /// children failed, with their errors in the order they failed.
    #[error("ExceptionGroup: {}", group_str(message, errors))]
    Group {
        /// Its message (`unhandled errors in a TaskGroup`).
        message: String,
        /// The sub-exceptions.
        errors: Vec<Error>,
    },
}

/// `str(ExceptionGroup(message, errors))`.
fn group_str(message: &str, errors: &[Error]) -> String {
    let n = errors.len();
    format!(
        "{message} ({n} sub-exception{})",
        if n == 1 { "" } else { "s" }
    )
}

impl Error {
    /// An exception of class `kind` with `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = loopsim::Error::raised("ValueError", "bad input");
    /// assert_eq!(e.to_string(), "ValueError: bad input");
    /// assert_eq!(e.kind(), "ValueError");
    /// ```
    pub fn raised(kind: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Raised {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The Python class name of the error.
    pub fn kind(&self) -> &str {
        match self {
            Error::Cancelled => "CancelledError",
            Error::Timeout => "TimeoutError",
            Error::Panic(_) => "Panic",
            Error::Raised { kind, .. } => kind,
            Error::InvalidState(_) => "InvalidStateError",
            Error::Group { .. } => "ExceptionGroup",
        }
    }

    /// `str(e)` of an [`Error::Group`]: its message and how many
    /// sub-exceptions it holds; `None` for any other error.
    pub fn group_str(&self) -> Option<String> {
        match self {
            Error::Group { message, errors } => Some(group_str(message, errors)),
            _ => None,
        }
    }

    /// True for [`Error::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled)
    }
}
