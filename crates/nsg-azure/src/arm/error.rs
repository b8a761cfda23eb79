//! Why an ARM expression or value could not be evaluated. The text of each
//! error is what import notes and refusals show after the field and
//! expression.

/// Why an ARM evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The template's evaluation budget ([`super::budget`]) ran out; the
    /// template is refused as a whole.
    #[error("{0}")]
    OverBudget(String),
    /// The value is known only once deployed (`reference()`,
    /// `resourceGroup()`, `uniqueString()`, `list*()`, ...).
    #[error("{0}")]
    DeploymentOnly(String),
    /// A function the evaluator does not have.
    #[error("{0}")]
    Unsupported(String),
    /// An expression that does not parse.
    #[error("{0}")]
    Syntax(#[from] crate::expr::ParseError),
    /// Anything else wrong: a bad argument, an unknown parameter or
    /// variable.
    #[error("{0}")]
    Invalid(String),
}

impl From<String> for EvalError {
    fn from(message: String) -> Self {
        EvalError::Invalid(message)
    }
}

impl From<&str> for EvalError {
    fn from(message: &str) -> Self {
        EvalError::Invalid(message.to_string())
    }
}

/// The result of an evaluation step.
pub type R<T> = Result<T, EvalError>;
