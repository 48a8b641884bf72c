//! The scenario expression language: literals, durations, variables, lists,
//! indexing, arithmetic, distributions and calls.
//!
//! ```text
//! expr    := or
//! or      := and ('or' and)*
//! and     := not ('and' not)*
//! not     := 'not' not | cmp
//! cmp     := sum (('==' | '!=' | '<' | '<=' | '>' | '>=') sum)?
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | postfix
//! postfix := primary ('[' expr ']')*
//! primary := NUMBER | DURATION | STRING | NAME | NAME '(' args ')' | '[' args ']' | '(' expr ')'
//! ```
//!
//! Durations are a number with a unit, no space: `3s`, `250ms`, `1.5s`,
//! `10us`, `5ns`, `2m` (minutes), `1h`. Strings use single or double quotes.
//! `True`/`False`/`None` (or `true`/`false`) are literals.
//!
//! In three parts: `lex.rs` turns text into tokens (and reads durations
//! exactly), `parse.rs` builds trees no deeper than [`MAX_DEPTH`], and
//! `template.rs` splits text like `"{name} took {now:.2f}s"` from its
//! `{expression}` holes.

use crate::time::Duration;
use std::fmt;

mod lex;
mod parse;
mod template;

pub use lex::parse_duration;
pub use parse::{MAX_DEPTH, parse, parse_nested, too_deep_message};
pub use template::parse_template;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A duration literal.
    Duration(Duration),
    /// A variable.
    Var(String),
    /// `[a, b, …]`.
    List(Vec<Expr>),
    /// `{k: v, …}`.
    Dict(Vec<(Expr, Expr)>),
    /// `x[i]`.
    Index(Box<Expr>, Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a + b`, …
    Bin(Box<Expr>, BinOp, Box<Expr>),
    /// `a == b`, `a < b`, …
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
    /// `a and b` (`true`) / `a or b` (`false`), short-circuit.
    Logic(Box<Expr>, bool, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `name(args)`: a builtin in a value, a coroutine in a call position.
    Call(String, Vec<Expr>),
    /// `value.method(args)`: a query of a task or future (`t.done()`).
    Method(Box<Expr>, String, Vec<Expr>),
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl fmt::Display for BinOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        })
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

/// A syntax error at a character offset of the expression text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// Character offset in the expression.
    pub offset: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ExprError {
    fn at(offset: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            offset,
            message: message.into(),
        }
    }
}

/// One piece of a template string.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// Text copied as is.
    Text(String),
    /// `{expr}` or `{expr:spec}`: an interpolated value with an optional
    /// Python format spec (`.2f`, `>8`, `d`).
    Value(Expr, Option<String>),
}

impl Expr {
    /// The expressions directly inside this one, left to right.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::List(items) | Expr::Call(_, items) => items.iter().collect(),
            Expr::Dict(pairs) => pairs.iter().flat_map(|(k, v)| [k, v]).collect(),
            Expr::Method(a, _, items) => std::iter::once(&**a).chain(items).collect(),
            Expr::Index(a, b) | Expr::Bin(a, _, b) | Expr::Cmp(a, _, b) | Expr::Logic(a, _, b) => {
                vec![a, b]
            }
            Expr::Neg(a) | Expr::Not(a) => vec![a],
            _ => Vec::new(),
        }
    }

    /// This expression and every one inside it, in reading order (an
    /// explicit stack: no recursion).
    pub fn nodes(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut todo = vec![self];
        while let Some(e) = todo.pop() {
            out.push(e);
            todo.extend(e.children().into_iter().rev());
        }
        out
    }
}

/// Every variable an expression reads.
pub fn vars<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
    out.extend(e.nodes().into_iter().filter_map(|n| match n {
        Expr::Var(v) => Some(v.as_str()),
        _ => None,
    }));
}

/// The variables that are receivers of method calls (`q` in `q.qsize()`).
pub fn method_receivers<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
    out.extend(e.nodes().into_iter().filter_map(|n| match n {
        Expr::Method(a, _, _) => match &**a {
            Expr::Var(v) => Some(v.as_str()),
            _ => None,
        },
        _ => None,
    }));
}

/// Every method call (name, argument count) in an expression.
pub fn methods<'a>(e: &'a Expr, out: &mut Vec<(&'a str, usize)>) {
    out.extend(e.nodes().into_iter().filter_map(|n| match n {
        Expr::Method(_, m, items) => Some((m.as_str(), items.len())),
        _ => None,
    }));
}

/// Every call (name, argument count) in an expression.
pub fn calls<'a>(e: &'a Expr, out: &mut Vec<(&'a str, usize)>) {
    out.extend(e.nodes().into_iter().filter_map(|n| match n {
        Expr::Call(name, items) => Some((name.as_str(), items.len())),
        _ => None,
    }));
}
