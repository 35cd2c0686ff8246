/*!
Who may do what in `cohort serve`: accounts with roles, their passwords, browser sessions, API
tokens for scripts, and the brakes on password guessing.

- [`Role`]: viewer (aggregates), analyst (participant-level reads, the query console,
  downloads), admin (accounts, datasets, publishing, the audit log). Not being logged in is the
  public face, which a store server does not have: it only shows the login page.
- [`Accounts`]: `access/accounts.json` in the store, readable only by its owner, replaced
  atomically under a lock on every change so the CLI can change accounts while a server runs
  (the server rereads it when it changes). Passwords are Argon2id hashes; API tokens are kept
  as SHA-256 hashes (they are long random secrets, so a slow hash adds nothing).
- [`Sessions`]: browser sessions in the server's memory, with idle and absolute expiry; a
  restart logs everyone out, which is the safe direction.
- [`LoginThrottle`]: failed logins lock the account for a while, and one address cannot try
  more than a few passwords a minute.

Nothing here knows HTTP; `cohort-web` turns these into cookies, headers and status codes.
*/
#![deny(missing_docs)]

mod accounts;
mod error;
mod password;
mod role;
mod secret;
mod sessions;
mod throttle;

pub use accounts::{Accounts, AccountsData, Token, TokenInfo, User};
pub use error::AuthError;
pub use password::MIN_PASSWORD_CHARS;
pub use role::{Principal, Role, Via};
pub use sessions::{Session, SessionPolicy, SessionRefusal, Sessions};
pub use throttle::{LoginThrottle, ThrottlePolicy, Verdict};
