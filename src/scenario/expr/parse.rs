//! The recursive-descent parser: precedence climbing by grammar rule (see
//! the module's grammar), with every tree's height counted as it is built.

use super::lex::{Lexer, Tok, describe};
use super::{BinOp, CmpOp, Expr, ExprError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

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
}
