//! The ARM template expression language: parsing `[...]` strings into an
//! expression tree. Evaluation is in [`super::arm`].
//!
//! Grammar (what real templates use): a function call `name(arg, ...)`, a
//! string literal `'it''s'`, an integer, and postfix member access `.name` or
//! index `[expr]`. `true`, `false` and `null` are accepted bare as well as
//! the functions `true()`, `false()` and `null()`.

use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal (`'text'`, quotes unescaped).
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A function call: its name as written and its arguments.
    Call {
        /// The function's name as written (ARM names are case-insensitive).
        name: String,
        /// Its arguments, in order.
        args: Vec<Expr>,
    },
    /// A property access, `expr.name`.
    Member(Box<Expr>, String),
    /// An index, `expr[index]`.
    Index(Box<Expr>, Box<Expr>),
}

/// Whether a template string is an expression (`[...]`, but not the escaped
/// literal `[[...`).
pub fn is_expression(s: &str) -> bool {
    let t = s.trim();
    t.len() >= 2 && t.starts_with('[') && t.ends_with(']') && !t.starts_with("[[")
}

/// The literal a template string stands for when it is not an expression:
/// `[[x]` is the string `[x]`.
pub fn literal(s: &str) -> &str {
    match s.strip_prefix("[[") {
        Some(_) => &s[1..],
        None => s,
    }
}

/// Why an expression does not parse: what was expected or found, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at column {column} of `{expression}`")]
pub struct ParseError {
    /// What is wrong (`expected ')'`, `unterminated string`, ...).
    pub what: String,
    /// Where it was found: the byte of the expression text, counted from 1.
    pub column: usize,
    /// The expression text.
    pub expression: String,
}

/// Parse an expression string including its brackets.
pub fn parse_template_string(s: &str) -> Result<Expr, ParseError> {
    let t = s.trim();
    let inner = &t[1..t.len() - 1];
    parse(inner)
}

/// Parse the text between the brackets.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the expression"));
    }
    Ok(e)
}

/// How deeply expressions may nest (real templates stay under ten).
pub const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> ParseError {
        ParseError {
            what: what.to_string(),
            column: self.i + 1,
            expression: self.src.to_string(),
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| self.src[start..self.i].to_string())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(&format!("expressions nest deeper than {MAX_DEPTH}")));
        }
        let e = self.postfix();
        self.depth -= 1;
        e
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    let name = self
                        .ident()
                        .ok_or_else(|| self.err("expected a property name after '.'"))?;
                    e = Expr::Member(Box::new(e), name);
                }
                Some(b'[') => {
                    self.i += 1;
                    let idx = self.expr()?;
                    if !self.eat(b']') {
                        return Err(self.err("expected ']'"));
                    }
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            None => Err(self.err("expected an expression")),
            Some(b'\'') => self.string(),
            Some(c) if c.is_ascii_digit() || c == b'-' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let mut name = self.ident().unwrap_or_default();
                // A user-defined function: namespace.name(...)
                let save = self.i;
                if self.eat(b'.') {
                    match self.ident() {
                        Some(n2) if self.peek() == Some(b'(') => {
                            name = format!("{name}.{n2}");
                        }
                        _ => self.i = save,
                    }
                }
                if self.eat(b'(') {
                    let mut args = Vec::new();
                    if !self.eat(b')') {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(b')') {
                                break;
                            }
                            if !self.eat(b',') {
                                return Err(self.err("expected ',' or ')'"));
                            }
                        }
                    }
                    Ok(Expr::Call { name, args })
                } else {
                    match name.to_ascii_lowercase().as_str() {
                        "true" => Ok(Expr::Bool(true)),
                        "false" => Ok(Expr::Bool(false)),
                        "null" => Ok(Expr::Null),
                        _ => Err(self.err(&format!("expected '(' after `{name}`"))),
                    }
                }
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn string(&mut self) -> Result<Expr, ParseError> {
        // At the opening quote.
        self.i += 1;
        let mut out = String::new();
        let mut start = self.i;
        loop {
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'\'') => {
                    out.push_str(&self.src[start..self.i]);
                    if self.s.get(self.i + 1) == Some(&b'\'') {
                        out.push('\'');
                        self.i += 2;
                        start = self.i;
                    } else {
                        self.i += 1;
                        return Ok(Expr::Str(out));
                    }
                }
                Some(_) => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.src[start..self.i]
            .parse::<i64>()
            .map(Expr::Int)
            .map_err(|_| self.err("bad number"))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Null => f.write_str("null"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Member(e, n) => write!(f, "{e}.{n}"),
            Expr::Index(e, i) => write!(f, "{e}[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.to_string(),
            args,
        }
    }

    #[test]
    fn parses_calls_strings_and_access() {
        let e = parse("concat(parameters('a'), 'it''s', 3)").unwrap();
        assert_eq!(
            e,
            call(
                "concat",
                vec![
                    call("parameters", vec![Expr::Str("a".into())]),
                    Expr::Str("it's".into()),
                    Expr::Int(3)
                ]
            )
        );
        let e = parse("variables('x').y[0] .z").unwrap();
        assert_eq!(e.to_string(), "variables('x').y[0].z");
        let e = parse("reference(variables('id'), '2018-04-01').addressPrefix").unwrap();
        assert!(matches!(e, Expr::Member(_, ref n) if n == "addressPrefix"));
        assert_eq!(
            parse("ns.fn(1)").unwrap(),
            call("ns.fn", vec![Expr::Int(1)])
        );
        assert_eq!(parse("add(-1, 2)").unwrap().to_string(), "add(-1, 2)");
    }

    #[test]
    fn refuses_broken_expressions() {
        assert!(parse("concat('a'").is_err());
        assert!(parse("'open").is_err());
        assert!(parse("f() g()").is_err());
        assert!(parse("").is_err());
        assert!(parse("x").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}1{}",
            "not(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep)
            .unwrap_err()
            .to_string()
            .contains("nest deeper"));
        let ok = format!("{}1{}", "not(".repeat(10), ")".repeat(10));
        assert!(parse(&ok).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_expression_like_text(s in "[a-zA-Z(),.'\\[\\] 0-9-]{0,60}") {
            let _ = parse(&s);
        }
    }

    #[test]
    fn expression_strings() {
        assert!(is_expression("[variables('a')]"));
        assert!(!is_expression("[[not an expression]"));
        assert_eq!(literal("[[x]"), "[x]");
        assert!(!is_expression("10.0.0.0/16"));
    }
}
