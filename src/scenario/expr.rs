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

use crate::time::Duration;
use std::fmt;

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

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Dur(Duration),
    Str(String),
    Name(String),
    Punct(char),
    Op(&'static str),
    End,
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

/// Parses a duration literal (`3s`, `1.5s`, `250ms`), exactly, to the nanosecond.
///
/// # Errors
///
/// A message naming the problem: no unit, unknown unit, finer than a
/// nanosecond, too large.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("`{t}`: a duration cannot be negative"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| format!("`{t}` has no unit: write e.g. `{t}s` or `{t}ms`"))?;
    let (num, unit) = t.split_at(split);
    duration_from_parts(num, unit).map_err(|e| format!("`{t}`: {e}"))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

fn duration_from_parts(num: &str, unit: &str) -> Result<Duration, String> {
    let scale = unit_nanos(unit)
        .ok_or_else(|| format!("unknown unit `{unit}` (use ns, us, ms, s, m, h)"))?;
    let num = num.replace('_', "");
    if num.is_empty() || num == "." {
        return Err("missing number".into());
    }
    let (whole, frac) = match num.split_once('.') {
        Some((w, f)) => (w, f),
        None => (num.as_str(), ""),
    };
    if frac.contains('.') {
        return Err("two decimal points".into());
    }
    let too_big = || "too large (the limit is about 584 years)".to_string();
    let w: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_big())?
    };
    let mut total = w.checked_mul(scale).ok_or_else(too_big)?;
    if !frac.is_empty() {
        if frac.len() > 30 {
            return Err("too many decimals".into());
        }
        let f: u128 = frac.parse().map_err(|_| "bad decimals".to_string())?;
        let denom = 10u128.pow(frac.len() as u32);
        let num = f * scale;
        if !num.is_multiple_of(denom) {
            return Err("finer than a nanosecond".into());
        }
        total = total.checked_add(num / denom).ok_or_else(too_big)?;
    }
    let ns = u64::try_from(total).map_err(|_| too_big())?;
    Ok(Duration::from_nanos(ns))
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            chars: src.chars().collect(),
            pos: 0,
            _src: src,
        }
    }

    fn next(&mut self) -> Result<(usize, Tok), ExprError> {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.chars.get(self.pos) else {
            return Ok((start, Tok::End));
        };
        if c.is_ascii_digit()
            || (c == '.'
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_some_and(|d| d.is_ascii_digit()))
        {
            let mut end = self.pos;
            while end < self.chars.len()
                && (self.chars[end].is_ascii_digit()
                    || self.chars[end] == '.'
                    || self.chars[end] == '_')
            {
                end += 1;
            }
            let num: String = self.chars[self.pos..end].iter().collect();
            let mut uend = end;
            while uend < self.chars.len() && (self.chars[uend].is_alphabetic()) {
                uend += 1;
            }
            let unit: String = self.chars[end..uend].iter().collect();
            self.pos = uend;
            if !unit.is_empty() {
                if unit == "e" || unit == "E" {
                    return Err(ExprError::at(
                        start,
                        "exponents are not supported: write the number out",
                    ));
                }
                return duration_from_parts(&num, &unit)
                    .map(|d| (start, Tok::Dur(d)))
                    .map_err(|e| ExprError::at(start, format!("bad duration `{num}{unit}`: {e}")));
            }
            let clean = num.replace('_', "");
            if clean.contains('.') {
                return clean
                    .parse::<f64>()
                    .map(|f| (start, Tok::Float(f)))
                    .map_err(|_| ExprError::at(start, format!("bad number `{num}`")));
            }
            return clean
                .parse::<i64>()
                .map(|i| (start, Tok::Int(i)))
                .map_err(|_| ExprError::at(start, format!("integer `{num}` is too large")));
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            let mut i = self.pos + 1;
            loop {
                match self.chars.get(i) {
                    None => {
                        return Err(ExprError::at(
                            start,
                            "unterminated string: add the closing quote",
                        ));
                    }
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        match self.chars.get(i + 1) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(&o) => s.push(o),
                            None => return Err(ExprError::at(i, "dangling backslash")),
                        }
                        i += 2;
                        continue;
                    }
                    Some(&o) => s.push(o),
                }
                i += 1;
            }
            self.pos = i + 1;
            return Ok((start, Tok::Str(s)));
        }
        if c.is_alphabetic() || c == '_' {
            let mut end = self.pos;
            while end < self.chars.len()
                && (self.chars[end].is_alphanumeric() || self.chars[end] == '_')
            {
                end += 1;
            }
            let name: String = self.chars[self.pos..end].iter().collect();
            self.pos = end;
            return Ok((start, Tok::Name(name)));
        }
        if "=!<>".contains(c) {
            let two = self.chars.get(self.pos + 1) == Some(&'=');
            let op = match (c, two) {
                ('=', true) => "==",
                ('!', true) => "!=",
                ('<', true) => "<=",
                ('>', true) => ">=",
                ('<', false) => "<",
                ('>', false) => ">",
                ('=', false) => {
                    return Err(ExprError::at(
                        start,
                        "`=` is not an operator here: use `==` to compare",
                    ));
                }
                _ => {
                    return Err(ExprError::at(
                        start,
                        "`!` alone is not an operator: use `not` or `!=`",
                    ));
                }
            };
            self.pos += if two { 2 } else { 1 };
            return Ok((start, Tok::Op(op)));
        }
        if "()[],+-*/.{}:".contains(c) {
            self.pos += 1;
            return Ok((start, Tok::Punct(c)));
        }
        Err(ExprError::at(start, format!("unexpected character `{c}`")))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    at: usize,
    /// How deep the parser has recursed (parentheses, brackets, calls, `not`
    /// and unary `-` chains).
    depth: usize,
    /// The deepest tree this parse may build ([`MAX_DEPTH`] less the levels
    /// the expression is nested in, e.g. TOML arrays around it).
    limit: usize,
}

/// The deepest expression tree accepted, in levels: `1 + 1 + … + 1` with more
/// than this many terms, `a and b and …`, `x[0][0]…`, nested lists, calls or
/// parentheses are refused with a message, so that no walk over an expression
/// (validation, evaluation, printing, the Python translation, dropping it)
/// can exhaust the stack. The parser itself recurses into parentheses and
/// brackets, and an unoptimised build spends about 16 KiB of stack per level
/// there: 64 levels stay well inside the 2 MiB of a test thread, and far
/// below the 200 nested parentheses CPython accepts in the Python
/// translation (which parenthesises every operator).
pub const MAX_DEPTH: usize = 64;

/// An expression and the height of its tree (a leaf is 1).
type Node = (Expr, usize);

/// The message for an expression deeper than [`MAX_DEPTH`].
pub fn too_deep_message() -> String {
    format!("expression nested too deeply (more than {MAX_DEPTH} levels); split it into steps")
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, limit: usize) -> Result<Parser<'a>, ExprError> {
        let mut lex = Lexer::new(src);
        let (at, tok) = lex.next()?;
        Ok(Parser {
            lex,
            tok,
            at,
            depth: 0,
            limit,
        })
    }

    fn bump(&mut self) -> Result<Tok, ExprError> {
        let (at, tok) = self.lex.next()?;
        self.at = at;
        Ok(std::mem::replace(&mut self.tok, tok))
    }

    fn expect(&mut self, c: char) -> Result<(), ExprError> {
        if self.tok == Tok::Punct(c) {
            self.bump()?;
            Ok(())
        } else {
            Err(ExprError::at(
                self.at,
                format!("expected `{c}`, found {}", describe(&self.tok)),
            ))
        }
    }

    /// Enters one level of recursion (parentheses, brackets, call arguments).
    /// The printed form of a tree of height `h` nests at most `h + 1` levels,
    /// so one more than the limit is allowed here.
    fn descend(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > self.limit + 1 {
            return Err(ExprError::at(self.at, too_deep_message()));
        }
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth -= 1;
    }

    /// A node of height `h` built at offset `at`, refused above the limit.
    fn node(&self, at: usize, e: Expr, h: usize) -> Result<Node, ExprError> {
        if h > self.limit {
            // `e` is at most one level above the limit: dropping it is shallow.
            return Err(ExprError::at(at, too_deep_message()));
        }
        Ok((e, h))
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        self.descend()?;
        let e = self.or()?;
        self.ascend();
        Ok(e)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let (mut lhs, mut h) = self.and()?;
        while self.is_name("or") {
            let at = self.at;
            self.bump()?;
            let (rhs, rh) = self.and()?;
            (lhs, h) = self.node(
                at,
                Expr::Logic(Box::new(lhs), false, Box::new(rhs)),
                1 + h.max(rh),
            )?;
        }
        Ok((lhs, h))
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let (mut lhs, mut h) = self.not()?;
        while self.is_name("and") {
            let at = self.at;
            self.bump()?;
            let (rhs, rh) = self.not()?;
            (lhs, h) = self.node(
                at,
                Expr::Logic(Box::new(lhs), true, Box::new(rhs)),
                1 + h.max(rh),
            )?;
        }
        Ok((lhs, h))
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        // `not not … x` is counted, not recursed into.
        let mut nots = Vec::new();
        while self.is_name("not") {
            nots.push(self.at);
            self.bump()?;
        }
        if let Some(&first) = nots.first() {
            if nots.len() >= self.limit {
                return Err(ExprError::at(first, too_deep_message()));
            }
            let (mut e, mut h) = self.cmp()?;
            for at in nots.into_iter().rev() {
                (e, h) = self.node(at, Expr::Not(Box::new(e)), h + 1)?;
            }
            return Ok((e, h));
        }
        self.cmp()
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(&self.tok, Tok::Name(n) if n == name)
    }

    fn cmp(&mut self) -> Result<Node, ExprError> {
        let (lhs, lh) = self.sum()?;
        let op = match self.tok {
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            _ => return Ok((lhs, lh)),
        };
        let at = self.at;
        self.bump()?;
        let (rhs, rh) = self.sum()?;
        self.node(
            at,
            Expr::Cmp(Box::new(lhs), op, Box::new(rhs)),
            1 + lh.max(rh),
        )
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        let (mut lhs, mut h) = self.product()?;
        loop {
            let op = match self.tok {
                Tok::Punct('+') => BinOp::Add,
                Tok::Punct('-') => BinOp::Sub,
                _ => break,
            };
            let at = self.at;
            self.bump()?;
            let (rhs, rh) = self.product()?;
            (lhs, h) = self.node(
                at,
                Expr::Bin(Box::new(lhs), op, Box::new(rhs)),
                1 + h.max(rh),
            )?;
        }
        Ok((lhs, h))
    }

    fn product(&mut self) -> Result<Node, ExprError> {
        let (mut lhs, mut h) = self.unary()?;
        loop {
            let op = match self.tok {
                Tok::Punct('*') => BinOp::Mul,
                Tok::Punct('/') => BinOp::Div,
                _ => break,
            };
            let at = self.at;
            self.bump()?;
            let (rhs, rh) = self.unary()?;
            (lhs, h) = self.node(
                at,
                Expr::Bin(Box::new(lhs), op, Box::new(rhs)),
                1 + h.max(rh),
            )?;
        }
        Ok((lhs, h))
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        // `- - … x` is counted, not recursed into.
        let mut minuses = Vec::new();
        while self.tok == Tok::Punct('-') {
            minuses.push(self.at);
            self.bump()?;
        }
        if minuses.len() > self.limit {
            return Err(ExprError::at(minuses[0], too_deep_message()));
        }
        let (mut e, mut h) = self.postfix()?;
        for at in minuses.into_iter().rev() {
            (e, h) = match e {
                Expr::Int(i) => (Expr::Int(-i), 1),
                Expr::Float(f) => (Expr::Float(-f), 1),
                other => self.node(at, Expr::Neg(Box::new(other)), h + 1)?,
            };
        }
        Ok((e, h))
    }

    fn postfix(&mut self) -> Result<Node, ExprError> {
        let (mut e, mut h) = self.primary()?;
        loop {
            let at = self.at;
            if self.tok == Tok::Punct('[') {
                self.bump()?;
                let (i, ih) = self.expr()?;
                self.expect(']')?;
                (e, h) = self.node(at, Expr::Index(Box::new(e), Box::new(i)), 1 + h.max(ih))?;
            } else if self.tok == Tok::Punct('.') {
                self.bump()?;
                let Tok::Name(m) = self.tok.clone() else {
                    return Err(ExprError::at(self.at, "expected a method name after `.`"));
                };
                self.bump()?;
                if self.tok != Tok::Punct('(') {
                    return Err(ExprError::at(
                        self.at,
                        format!("`.{m}` is not supported: only method calls like `t.done()`"),
                    ));
                }
                self.bump()?;
                let (args, ah) = self.args(')')?;
                (e, h) = self.node(at, Expr::Method(Box::new(e), m, args), 1 + h.max(ah))?;
            } else {
                return Ok((e, h));
            }
        }
    }

    /// Comma-separated expressions up to `close`, and the height of the tallest.
    fn args(&mut self, close: char) -> Result<(Vec<Expr>, usize), ExprError> {
        let mut out = Vec::new();
        let mut h = 0;
        if self.tok == Tok::Punct(close) {
            self.bump()?;
            return Ok((out, h));
        }
        loop {
            let (e, eh) = self.expr()?;
            out.push(e);
            h = h.max(eh);
            match self.tok {
                Tok::Punct(',') => {
                    self.bump()?;
                    if self.tok == Tok::Punct(close) {
                        self.bump()?;
                        return Ok((out, h));
                    }
                }
                Tok::Punct(c) if c == close => {
                    self.bump()?;
                    return Ok((out, h));
                }
                _ => {
                    return Err(ExprError::at(
                        self.at,
                        format!("expected `,` or `{close}`, found {}", describe(&self.tok)),
                    ));
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let at = self.at;
        match self.bump()? {
            Tok::Int(i) => Ok((Expr::Int(i), 1)),
            Tok::Float(f) => Ok((Expr::Float(f), 1)),
            Tok::Dur(d) => Ok((Expr::Duration(d), 1)),
            Tok::Str(s) => Ok((Expr::Str(s), 1)),
            Tok::Name(n) => match n.as_str() {
                "and" | "or" | "not" => {
                    Err(ExprError::at(at, format!("expected a value, found `{n}`")))
                }
                "True" | "true" => Ok((Expr::Bool(true), 1)),
                "False" | "false" => Ok((Expr::Bool(false), 1)),
                "None" => Ok((Expr::None, 1)),
                _ if self.tok == Tok::Punct('(') => {
                    self.bump()?;
                    let (args, h) = self.args(')')?;
                    self.node(at, Expr::Call(n, args), h + 1)
                }
                _ => Ok((Expr::Var(n), 1)),
            },
            Tok::Punct('[') => {
                let (items, h) = self.args(']')?;
                self.node(at, Expr::List(items), h + 1)
            }
            Tok::Punct('{') => {
                let mut pairs = Vec::new();
                let mut h = 0;
                while self.tok != Tok::Punct('}') {
                    let (k, kh) = self.expr()?;
                    self.expect(':')?;
                    let (v, vh) = self.expr()?;
                    h = h.max(kh).max(vh);
                    pairs.push((k, v));
                    if self.tok == Tok::Punct(',') {
                        self.bump()?;
                    } else {
                        break;
                    }
                }
                self.expect('}')?;
                self.node(at, Expr::Dict(pairs), h + 1)
            }
            Tok::Punct('(') => {
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            other => Err(ExprError::at(
                at,
                format!("expected a value, found {}", describe(&other)),
            )),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(i) => format!("`{i}`"),
        Tok::Float(f) => format!("`{f}`"),
        Tok::Dur(d) => format!("`{d:?}`"),
        Tok::Str(s) => format!("the string {s:?}"),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Op(o) => format!("`{o}`"),
        Tok::End => "the end of the expression".to_string(),
    }
}

/// Parses a whole expression.
///
/// # Errors
///
/// The offset and a message for the first syntax error.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    parse_nested(src, 0)
}

/// Parses a whole expression that sits `outer` levels deep in another
/// structure (a TOML array of expressions), so that the whole stays within
/// [`MAX_DEPTH`].
///
/// # Errors
///
/// The offset and a message for the first syntax error, or for a tree deeper
/// than [`MAX_DEPTH`] levels in all.
pub fn parse_nested(src: &str, outer: usize) -> Result<Expr, ExprError> {
    if outer >= MAX_DEPTH {
        return Err(ExprError::at(0, too_deep_message()));
    }
    let mut p = Parser::new(src, MAX_DEPTH - outer)?;
    if p.tok == Tok::End {
        return Err(ExprError::at(0, "empty expression"));
    }
    let (e, _) = p.expr()?;
    if p.tok != Tok::End {
        return Err(ExprError::at(
            p.at,
            format!("unexpected {} after the expression", describe(&p.tok)),
        ));
    }
    Ok(e)
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

/// Parses a template like `"{name} took {now:.2f}s"` (`{{` and `}}` are
/// literal braces).
///
/// # Errors
///
/// The offset and message of the first problem.
pub fn parse_template(src: &str) -> Result<Vec<Piece>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                text.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                text.push('}');
                i += 2;
            }
            '}' => {
                return Err(ExprError::at(
                    i,
                    "single `}`: write `}}` for a literal brace",
                ));
            }
            '{' => {
                let start = i + 1;
                let mut j = start;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while j < chars.len() {
                    let c = chars[j];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '\'' || c == '"' => quote = Some(c),
                        None if c == '}' && depth <= 0 => break,
                        None if c == '(' || c == '[' || c == '{' => depth += 1,
                        None if c == ')' || c == ']' || c == '}' => depth -= 1,
                        None => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(ExprError::at(
                        i,
                        "unclosed `{`: add `}` (or write `{{` for a literal brace)",
                    ));
                }
                let inner: String = chars[start..j].iter().collect();
                let (expr_text, spec) = split_spec(&inner);
                let expr =
                    parse(expr_text).map_err(|e| ExprError::at(start + e.offset, e.message))?;
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Value(expr, spec.map(str::to_string)));
                i = j + 1;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// Splits `expr:spec` at the last `:` outside quotes and brackets.
fn split_spec(s: &str) -> (&str, Option<&str>) {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cut = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '(' || c == '[' || c == '{' => depth += 1,
            None if c == ')' || c == ']' || c == '}' => depth -= 1,
            None if c == ':' && depth == 0 => cut = Some(i),
            None => {}
        }
    }
    match cut {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("3").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("3 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_duration("0.5ns")
                .unwrap_err()
                .contains("finer than a nanosecond")
        );
        assert!(
            parse_duration("99999999999999999999h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn calls_lists_arithmetic_and_indexing_parse() {
        assert_eq!(
            parse("fetch('A', 3s)").unwrap(),
            Expr::Call(
                "fetch".into(),
                vec![
                    Expr::Str("A".into()),
                    Expr::Duration(Duration::from_secs(3))
                ]
            )
        );
        assert_eq!(
            parse("i * 100ms + 1s").unwrap(),
            Expr::Bin(
                Box::new(Expr::Bin(
                    Box::new(Expr::Var("i".into())),
                    BinOp::Mul,
                    Box::new(Expr::Duration(Duration::from_millis(100)))
                )),
                BinOp::Add,
                Box::new(Expr::Duration(Duration::from_secs(1)))
            )
        );
        assert_eq!(
            parse("r[0]").unwrap(),
            Expr::Index(Box::new(Expr::Var("r".into())), Box::new(Expr::Int(0)))
        );
        assert_eq!(
            parse("[1, 2,]").unwrap(),
            Expr::List(vec![Expr::Int(1), Expr::Int(2)])
        );
        assert_eq!(
            parse("not x == 2 or y").unwrap(),
            Expr::Logic(
                Box::new(Expr::Not(Box::new(Expr::Cmp(
                    Box::new(Expr::Var("x".into())),
                    CmpOp::Eq,
                    Box::new(Expr::Int(2))
                )))),
                false,
                Box::new(Expr::Var("y".into()))
            )
        );
        assert!(parse("x = 2").unwrap_err().message.contains("=="));
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        assert_eq!(parse("fetch('A' 3s)").unwrap_err().offset, 10);
        assert!(parse("'open").unwrap_err().message.contains("unterminated"));
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(parse("1 2").unwrap_err().message.contains("unexpected"));
        let deep = "(".repeat(5000) + "1" + &")".repeat(5000);
        assert!(parse(&deep).unwrap_err().message.contains("too deeply"));
    }

    /// Trees of every recursive shape, as tall as `h` allows, or just taller.
    fn tallest_trees(h: usize, over: bool) -> Vec<Expr> {
        // Wraps `x` while the tree stays at most `h` levels tall (a wrapper may
        // add two levels), then once more if `over`.
        let chain = |f: &dyn Fn(Expr) -> Expr| {
            let mut e = Expr::Var("x".into());
            while height(&f(e.clone())) <= h {
                e = f(e);
            }
            assert!(height(&e) + 1 >= h);
            if over { f(e) } else { e }
        };
        vec![
            chain(&|e| Expr::Bin(Box::new(e), BinOp::Add, Box::new(Expr::Int(1)))),
            chain(&|e| Expr::Bin(Box::new(Expr::Int(1)), BinOp::Sub, Box::new(e))),
            chain(&|e| Expr::Logic(Box::new(e), true, Box::new(Expr::Bool(true)))),
            chain(&|e| Expr::Cmp(Box::new(e), CmpOp::Lt, Box::new(Expr::Int(1)))),
            chain(&|e| Expr::Index(Box::new(e), Box::new(Expr::Int(0)))),
            chain(&|e| Expr::Index(Box::new(Expr::Var("x".into())), Box::new(e))),
            chain(&|e| Expr::Not(Box::new(e))),
            chain(&|e| Expr::Neg(Box::new(e))),
            chain(&|e| Expr::List(vec![e])),
            chain(&|e| Expr::Call("len".into(), vec![e])),
            chain(&|e| {
                Expr::Neg(Box::new(Expr::Bin(
                    Box::new(e),
                    BinOp::Mul,
                    Box::new(Expr::Int(2)),
                )))
            }),
        ]
    }

    fn height(e: &Expr) -> usize {
        1 + e.children().into_iter().map(height).max().unwrap_or(0)
    }

    #[test]
    fn trees_at_the_depth_limit_print_and_parse_back() {
        for tree in tallest_trees(MAX_DEPTH, false) {
            let text = crate::scenario::print::expr(&tree);
            assert_eq!(parse(&text).as_ref(), Ok(&tree), "{text}");
        }
        for tree in tallest_trees(MAX_DEPTH, true) {
            let text = crate::scenario::print::expr(&tree);
            let err = parse(&text).unwrap_err();
            assert!(err.message.contains("nested too deeply"), "{text}: {err:?}");
        }
    }

    #[test]
    fn long_chains_are_refused_at_the_operator_past_the_limit() {
        let sum = |n: usize| vec!["1"; n].join("+");
        assert!(parse(&sum(MAX_DEPTH)).is_ok());
        let err = parse(&sum(5000)).unwrap_err();
        assert_eq!(err.offset, 2 * MAX_DEPTH - 1, "{err:?}");
        assert_eq!(
            err.message,
            format!(
                "expression nested too deeply (more than {MAX_DEPTH} levels); split it into steps"
            )
        );
        let ands = vec!["x"; 5000].join(" and ");
        assert!(parse(&ands).unwrap_err().message.contains("too deeply"));
        let index = format!("x{}", "[0]".repeat(5000));
        assert!(parse(&index).unwrap_err().message.contains("too deeply"));
        let nots = format!("{}x", "not ".repeat(5000));
        assert!(parse(&nots).unwrap_err().message.contains("too deeply"));
        let negs = format!("{}x", "-".repeat(5000));
        assert!(parse(&negs).unwrap_err().message.contains("too deeply"));
        let lists = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse(&lists).unwrap_err().message.contains("too deeply"));
        assert!(parse_nested("[[1]]", MAX_DEPTH - 3).is_ok());
        assert!(parse_nested("[[1]]", MAX_DEPTH - 2).is_err());
    }

    #[test]
    fn templates_split_text_and_values_with_specs() {
        let t = parse_template("{name} took {now:.2f}s {{x}}").unwrap();
        assert_eq!(
            t,
            vec![
                Piece::Value(Expr::Var("name".into()), None),
                Piece::Text(" took ".into()),
                Piece::Value(Expr::Var("now".into()), Some(".2f".into())),
                Piece::Text("s {x}".into()),
            ]
        );
        assert!(
            parse_template("{oops")
                .unwrap_err()
                .message
                .contains("unclosed")
        );
        assert!(
            parse_template("a } b")
                .unwrap_err()
                .message
                .contains("single")
        );
    }
}
