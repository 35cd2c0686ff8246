//! Random secrets and comparing them.

use sha2::{Digest, Sha256};

/// `bytes` random bytes from the operating system, as hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source works");
    hex::encode(buf)
}

/// The SHA-256 of `secret`, as hex: what is kept of a token or a session id.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Equality that takes as long whatever the position of the first difference.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
