//! The accounts file: users, their roles, password hashes and dataset grants, and API tokens.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::password;
use crate::role::{Principal, Role, Via};
use crate::secret::{digest, random_hex, same};

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Its name (lowercase).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The Argon2id hash of its password (a PHC string).
    pub password: String,
    /// When it was created.
    pub created: Timestamp,
    /// When its password last changed: sessions started before then are over.
    pub password_changed: Timestamp,
    /// The datasets it may see; `None` is all of them.
    #[serde(default)]
    pub datasets: Option<BTreeSet<String>>,
    /// The registry datasets whose site names it may see (admins see every site's name).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub site_names: BTreeSet<String>,
}

/// An API token, as kept (the secret itself is shown once, when it is made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Its public id: the part of the secret before the second `_`.
    pub id: String,
    /// The account it acts for.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// Its scope: a role no higher than its account's (the lower of the two applies).
    pub role: Role,
    /// The SHA-256 of the secret.
    pub hash: String,
    /// When it was made.
    pub created: Timestamp,
    /// When it stops working, if ever.
    pub expires: Option<Timestamp>,
    /// When it was revoked.
    pub revoked: Option<Timestamp>,
}

/// A token without its hash, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its id.
    pub id: String,
    /// Its account.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// Its scope.
    pub role: Role,
    /// When it was made.
    pub created: Timestamp,
    /// When it expires.
    pub expires: Option<Timestamp>,
    /// When it was revoked.
    pub revoked: Option<Timestamp>,
}

impl From<&Token> for TokenInfo {
    fn from(t: &Token) -> Self {
        TokenInfo {
            id: t.id.clone(),
            user: t.user.clone(),
            name: t.name.clone(),
            role: t.role,
            created: t.created,
            expires: t.expires,
            revoked: t.revoked,
        }
    }
}

/// Everything in the accounts file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsData {
    /// The file's format.
    pub format: u32,
    /// The accounts, by name.
    pub users: Vec<User>,
    /// API tokens, revoked ones included (they stay, so that audit entries naming them can be
    /// traced).
    pub tokens: Vec<Token>,
}

impl AccountsData {
    /// The account `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User, AuthError> {
        self.users.iter_mut().find(|u| u.name == name).ok_or_else(|| AuthError::NoSuchUser(name.into()))
    }

    fn admins(&self) -> usize {
        self.users.iter().filter(|u| u.role == Role::Admin).count()
    }

    /// Who `user` is, as a request would run (a token narrows the role).
    fn principal(&self, user: &User, via: Via, token_role: Option<Role>) -> Principal {
        Principal {
            user: user.name.clone(),
            role: token_role.map_or(user.role, |r| r.min(user.role)),
            via,
            datasets: user.datasets.clone(),
            site_names: user.site_names.clone(),
        }
    }
}

const FORMAT: u32 = 1;

type Stamp = (u64, i64, i64, u64);

/// The accounts of a store, in `<dir>/accounts.json`.
#[derive(Debug)]
pub struct Accounts {
    dir: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<AccountsData>)>>,
}

impl Accounts {
    /// The accounts kept in `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Accounts { dir: dir.into(), cache: Mutex::new(None) }
    }

    /// The file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("accounts.json")
    }

    fn stamp(path: &Path) -> Option<Stamp> {
        std::fs::metadata(path).ok().map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
    }

    /// The accounts as they are now (reread only when the file changed).
    pub fn snapshot(&self) -> Result<Arc<AccountsData>, AuthError> {
        let path = self.path();
        let Some(stamp) = Self::stamp(&path) else {
            return Ok(Arc::new(AccountsData { format: FORMAT, ..AccountsData::default() }));
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        if let Some((s, data)) = cache.as_ref()
            && *s == stamp
        {
            return Ok(data.clone());
        }
        let data = Arc::new(read(&path)?);
        *cache = Some((stamp, data.clone()));
        Ok(data)
    }

    /// Whether any account exists (a store without any is served on loopback only).
    pub fn any(&self) -> Result<bool, AuthError> {
        Ok(!self.snapshot()?.users.is_empty())
    }

    /// Changes the file: `change` runs on the current contents under an exclusive lock, and the
    /// result replaces the file atomically (or nothing changes if `change` fails).
    fn update<T>(&self, change: impl FnOnce(&mut AccountsData) -> Result<T, AuthError>) -> Result<T, AuthError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(AuthError::io("create", &self.dir))?;
        let lock_path = self.dir.join("accounts.lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(AuthError::io("open", &lock_path))?;
        lock.lock().map_err(AuthError::io("lock", &lock_path))?;
        let path = self.path();
        let mut data = match std::fs::metadata(&path) {
            Ok(_) => read(&path)?,
            Err(_) => AccountsData { format: FORMAT, ..AccountsData::default() },
        };
        let out = change(&mut data)?;
        let mut bytes = serde_json::to_vec_pretty(&data).expect("accounts serialise");
        bytes.push(b'\n');
        write_private(&path, &bytes).map_err(AuthError::io("write", &path))?;
        Ok(out)
    }

    /// Adds an account.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<User, AuthError> {
        check_name(name)?;
        password::check_strength(name, password)?;
        let hash = password::hash(password)?;
        self.update(|data| {
            if data.user(name).is_some() {
                return Err(AuthError::UserExists(name.into()));
            }
            let now = Timestamp::now();
            let user = User {
                name: name.into(),
                role,
                password: hash,
                created: now,
                password_changed: now,
                datasets: None,
                site_names: BTreeSet::new(),
            };
            data.users.push(user.clone());
            Ok(user)
        })
    }

    /// Removes an account and its tokens; the last admin stays.
    pub fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        self.update(|data| {
            let user = data.user(name).ok_or_else(|| AuthError::NoSuchUser(name.into()))?;
            if user.role == Role::Admin && data.admins() == 1 {
                return Err(AuthError::LastAdmin(name.into()));
            }
            data.users.retain(|u| u.name != name);
            let now = Timestamp::now();
            for t in data.tokens.iter_mut().filter(|t| t.user == name && t.revoked.is_none()) {
                t.revoked = Some(now);
            }
            Ok(())
        })
    }

    /// Sets a new password; the account's sessions end.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        password::check_strength(name, password)?;
        let hash = password::hash(password)?;
        self.update(|data| {
            let user = data.user_mut(name)?;
            user.password = hash;
            user.password_changed = Timestamp::now();
            Ok(())
        })
    }

    /// Changes an account's role; the last admin stays admin.
    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AuthError> {
        self.update(|data| {
            let admins = data.admins();
            let user = data.user_mut(name)?;
            if user.role == Role::Admin && role != Role::Admin && admins == 1 {
                return Err(AuthError::LastAdmin(name.into()));
            }
            user.role = role;
            Ok(())
        })
    }

    /// Limits an account to `datasets` (`None`: every dataset).
    pub fn set_grants(&self, name: &str, datasets: Option<BTreeSet<String>>) -> Result<(), AuthError> {
        self.update(|data| {
            data.user_mut(name)?.datasets = datasets;
            Ok(())
        })
    }

    /// Lets an account see the site names of the registry datasets `datasets` (replacing the
    /// earlier list; empty: none).
    pub fn set_site_names(&self, name: &str, datasets: BTreeSet<String>) -> Result<(), AuthError> {
        self.update(|data| {
            data.user_mut(name)?.site_names = datasets;
            Ok(())
        })
    }

    /// Makes an API token for `user`; returns it with its secret, which is not kept.
    pub fn create_token(
        &self,
        user: &str,
        name: &str,
        role: Option<Role>,
        expires: Option<Timestamp>,
    ) -> Result<(TokenInfo, String), AuthError> {
        let id = random_hex(4);
        let secret = format!("cohort_{id}_{}", random_hex(24));
        let hash = digest(&secret);
        self.update(|data| {
            let account = data.user(user).ok_or_else(|| AuthError::NoSuchUser(user.into()))?;
            let role = role.unwrap_or(account.role);
            if role > account.role {
                return Err(AuthError::TokenExceedsRole(account.role.to_string()));
            }
            let token = Token {
                id: id.clone(),
                user: user.into(),
                name: name.into(),
                role,
                hash,
                created: Timestamp::now(),
                expires,
                revoked: None,
            };
            let info = TokenInfo::from(&token);
            data.tokens.push(token);
            Ok(info)
        })
        .map(|info| (info, secret))
    }

    /// Revokes token `id`.
    pub fn revoke_token(&self, id: &str) -> Result<TokenInfo, AuthError> {
        self.update(|data| {
            let token = data.tokens.iter_mut().find(|t| t.id == id).ok_or_else(|| AuthError::NoSuchToken(id.into()))?;
            token.revoked.get_or_insert_with(Timestamp::now);
            Ok(TokenInfo::from(&*token))
        })
    }

    /// Checks a name and password. `None` for a wrong password or an unknown name alike, in the
    /// same time.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<Principal>, AuthError> {
        let data = self.snapshot()?;
        Ok(match data.user(&name.to_lowercase()) {
            Some(user) if password::verify(password, &user.password) => Some(data.principal(user, Via::Session, None)),
            Some(_) => None,
            None => {
                let _ = password::verify(password, password::decoy());
                None
            }
        })
    }

    /// Who a presented token acts as, or why it does not work.
    pub fn check_token(&self, presented: &str) -> Result<Principal, &'static str> {
        let data = self.snapshot().map_err(|_| "the accounts cannot be read")?;
        let id = presented
            .strip_prefix("cohort_")
            .and_then(|rest| rest.split('_').next())
            .ok_or("it is not a cohort API token")?;
        let token = data.tokens.iter().find(|t| t.id == id).ok_or("no such token")?;
        if !same(&token.hash, &digest(presented)) {
            return Err("no such token");
        }
        if token.revoked.is_some() {
            return Err("the token was revoked");
        }
        if token.expires.is_some_and(|e| e <= Timestamp::now()) {
            return Err("the token has expired");
        }
        let user = data.user(&token.user).ok_or("the token's account was removed")?;
        Ok(data.principal(user, Via::Token(token.id.clone()), Some(token.role)))
    }

    /// Who a session of `user`, started at `started`, runs as now: `None` if the account is gone
    /// or its password changed since.
    pub fn session_principal(&self, user: &str, started: Timestamp) -> Result<Option<Principal>, AuthError> {
        let data = self.snapshot()?;
        Ok(data.user(user).filter(|u| u.password_changed <= started).map(|u| data.principal(u, Via::Session, None)))
    }
}

fn read(path: &Path) -> Result<AccountsData, AuthError> {
    let bytes = std::fs::read(path).map_err(AuthError::io("read", path))?;
    let data: AccountsData =
        serde_json::from_slice(&bytes).map_err(|e| AuthError::Damaged { path: path.into(), reason: e.to_string() })?;
    if data.format != FORMAT {
        return Err(AuthError::Damaged {
            path: path.into(),
            reason: format!("format {} is not one this cohort reads ({FORMAT})", data.format),
        });
    }
    Ok(data)
}

fn check_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(AuthError::InvalidName(name.into())) }
}

/// Replaces `path` atomically with a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("the accounts file is in a folder");
    let tmp = dir.join(".accounts.json.tmp");
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "plum violin harbour";

    #[test]
    fn accounts_round_trip_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path().join("access"));
        assert!(!accounts.any().unwrap());
        accounts.add_user("ana", Role::Analyst, PW).unwrap();
        accounts.add_user("root", Role::Admin, PW).unwrap();
        assert!(accounts.add_user("ana", Role::Viewer, PW).unwrap_err().to_string().contains("already"));
        assert!(accounts.add_user("Bad Name", Role::Viewer, PW).is_err());
        let mode = std::fs::metadata(accounts.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(accounts.path()).unwrap();
        assert!(!text.contains(PW) && text.contains("$argon2id$"));
        assert_eq!(accounts.check_password("ana", PW).unwrap().unwrap().role, Role::Analyst);
        assert_eq!(accounts.check_password("ana", "plum violin harbouR").unwrap(), None);
        assert_eq!(accounts.check_password("nobody", PW).unwrap(), None);
    }

    #[test]
    fn the_last_admin_cannot_be_removed_or_demoted() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        accounts.add_user("root", Role::Admin, PW).unwrap();
        assert!(matches!(accounts.remove_user("root"), Err(AuthError::LastAdmin(_))));
        assert!(matches!(accounts.set_role("root", Role::Viewer), Err(AuthError::LastAdmin(_))));
        accounts.add_user("second", Role::Admin, PW).unwrap();
        accounts.set_role("root", Role::Viewer).unwrap();
    }

    #[test]
    fn tokens_are_scoped_revocable_and_kept_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        accounts.add_user("ana", Role::Analyst, PW).unwrap();
        assert!(accounts.create_token("ana", "too much", Some(Role::Admin), None).is_err());
        let (info, secret) = accounts.create_token("ana", "nightly", Some(Role::Viewer), None).unwrap();
        assert!(!std::fs::read_to_string(accounts.path()).unwrap().contains(&secret));
        let who = accounts.check_token(&secret).unwrap();
        assert_eq!((who.user.as_str(), who.role, who.via.clone()), ("ana", Role::Viewer, Via::Token(info.id.clone())));
        let mut forged = secret.clone();
        forged.pop();
        forged.push(if secret.ends_with('0') { '1' } else { '0' });
        assert_eq!(accounts.check_token(&forged), Err("no such token"));
        assert!(accounts.check_token("Bearer nonsense").is_err());
        // An account demoted below its token's scope limits the token too.
        accounts.set_role("ana", Role::Viewer).unwrap();
        let (_, admin_secret) = accounts.create_token("ana", "x", None, None).unwrap();
        assert_eq!(accounts.check_token(&admin_secret).unwrap().role, Role::Viewer);
        accounts.revoke_token(&info.id).unwrap();
        assert_eq!(accounts.check_token(&secret), Err("the token was revoked"));
        let (_, expired) = accounts
            .create_token("ana", "old", None, Some(Timestamp::now() - jiff::SignedDuration::from_secs(1)))
            .unwrap();
        assert_eq!(accounts.check_token(&expired), Err("the token has expired"));
    }

    #[test]
    fn a_password_change_ends_earlier_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        accounts.add_user("ana", Role::Analyst, PW).unwrap();
        let started = Timestamp::now();
        assert!(accounts.session_principal("ana", started).unwrap().is_some());
        std::thread::sleep(std::time::Duration::from_millis(5));
        accounts.set_password("ana", "quiet lantern meadow").unwrap();
        assert!(accounts.session_principal("ana", started).unwrap().is_none());
        assert!(accounts.session_principal("ana", Timestamp::now()).unwrap().is_some());
    }
}
