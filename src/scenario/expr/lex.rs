//! Tokens of the expression language, and duration literals read exactly.

use super::ExprError;
use crate::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Int(i64),
    Float(f64),
    Dur(Duration),
    Str(String),
    Name(String),
    Punct(char),
    Op(&'static str),
    End,
}

pub(super) struct Lexer<'a> {
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
    pub(super) fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            chars: src.chars().collect(),
            pos: 0,
            _src: src,
        }
    }

    pub(super) fn next(&mut self) -> Result<(usize, Tok), ExprError> {
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

/// A token as a message names it.
pub(super) fn describe(t: &Tok) -> String {
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
}
