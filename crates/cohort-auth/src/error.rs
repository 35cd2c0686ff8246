//! What can go wrong with accounts.

use std::path::PathBuf;

/// An accounts error; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The accounts file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The accounts file is not what cohort wrote.
    #[error("{} is damaged ({reason}); restore it from a backup", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No account of that name.
    #[error("there is no account `{0}` (see `cohort user list`)")]
    NoSuchUser(String),
    /// The name is taken.
    #[error("there is already an account `{0}` (change it with `cohort user passwd` or `cohort user role`)")]
    UserExists(String),
    /// The name is not usable.
    #[error(
        "`{0}` cannot be an account name: use 1 to 64 lowercase letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    )]
    InvalidName(String),
    /// Not a role.
    #[error("`{0}` is not a role: use viewer, analyst or admin")]
    InvalidRole(String),
    /// The password is too weak.
    #[error("{0}")]
    WeakPassword(String),
    /// The change would leave no administrator.
    #[error("`{0}` is the last admin: make another account admin first (`cohort user role NAME admin`)")]
    LastAdmin(String),
    /// No token with that id.
    #[error("there is no API token `{0}` (see `cohort user token list`)")]
    NoSuchToken(String),
    /// A token asks for more than its user has.
    #[error("a token cannot have more than its account's role ({0})")]
    TokenExceedsRole(String),
    /// Hashing failed (the system's random source, or the hasher's limits).
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

impl AuthError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuthError {
        let path = path.to_path_buf();
        move |source| AuthError::Io { action, path, source }
    }
}
