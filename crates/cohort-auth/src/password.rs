//! Argon2id password hashes, and the rules a new password must pass.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::AuthError;

/// The shortest password accepted, in characters. Length beats composition rules (NIST SP
/// 800-63B), so there are none of those.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Refuses a password that is short, is the account name, or is one character repeated.
pub(crate) fn check_strength(user: &str, password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "the password has {chars} characters; use at least {MIN_PASSWORD_CHARS} (a few unrelated words work well)"
        )));
    }
    if password.to_lowercase().contains(user) {
        return Err(AuthError::WeakPassword("the password must not contain the account name".into()));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err(AuthError::WeakPassword("the password repeats too few characters; choose another".into()));
    }
    Ok(())
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of `password`, with a fresh salt and
/// the OWASP-recommended Argon2id parameters.
pub(crate) fn hash(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Whether `password` matches `phc`.
pub(crate) fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash to verify against when the account does not exist, so that a wrong name takes as long
/// as a wrong password and answers do not tell which names exist.
pub(crate) fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("a decoy password nobody has").expect("hashing works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_strength("ana", "short").unwrap_err().to_string().contains("at least 12"));
        assert!(check_strength("ana", "ana-is-my-password").unwrap_err().to_string().contains("account name"));
        assert!(check_strength("ana", "aaaaaaaaaaaaaaaa").is_err());
        check_strength("ana", "plum violin harbour").unwrap();
    }
}
