//! Templates: text with `{expression}` and `{expression:spec}` holes, as
//! in Python f-strings.

use super::{ExprError, Piece, parse};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::expr::Expr;

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
