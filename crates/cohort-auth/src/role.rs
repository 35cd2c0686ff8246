//! Roles, and who a request runs as.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::AuthError;

/// What an account may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Aggregates: dataset lists, schemas, simulation charts.
    Viewer,
    /// Participant-level reads: rows, column values, the query console, downloads, exports,
    /// patient timelines; and running simulations.
    Analyst,
    /// Accounts, uploads, rollbacks, publishing, the audit log.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    /// `viewer`, `analyst` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.to_ascii_lowercase())
            .ok_or_else(|| AuthError::InvalidRole(s.into()))
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session cookie.
    Session,
    /// An API token (its id).
    Token(String),
    /// A store without accounts, served on loopback only: whoever can reach it is its owner.
    Local,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Session => f.write_str("session"),
            Via::Token(id) => write!(f, "token:{id}"),
            Via::Local => f.write_str("local"),
        }
    }
}

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub user: String,
    /// The role in effect (a token's, which is at most its account's).
    pub role: Role,
    /// How they proved it.
    pub via: Via,
    /// The datasets they may see, when the account is limited to some.
    pub datasets: Option<BTreeSet<String>>,
    /// The registry datasets whose site names they were granted.
    pub site_names: BTreeSet<String>,
}

impl Principal {
    /// The owner of a store without accounts, served on loopback.
    pub fn local() -> Self {
        Principal {
            user: "local".into(),
            role: Role::Admin,
            via: Via::Local,
            datasets: None,
            site_names: BTreeSet::new(),
        }
    }

    /// Whether the role is at least `need`.
    pub fn has(&self, need: Role) -> bool {
        self.role >= need
    }

    /// Whether they may see the site names of registry dataset `name`: admins, and those granted
    /// them for it; everyone else sees anonymous site labels.
    pub fn may_see_site_names(&self, name: &str) -> bool {
        self.role == Role::Admin || (self.may_see(name) && self.site_names.contains(name))
    }

    /// Whether they may see dataset `name` (the grant is per dataset, all versions).
    pub fn may_see(&self, name: &str) -> bool {
        self.datasets.as_ref().is_none_or(|d| d.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Admin > Role::Analyst && Role::Analyst > Role::Viewer);
        assert_eq!("Analyst".parse::<Role>().unwrap(), Role::Analyst);
        assert!("root".parse::<Role>().unwrap_err().to_string().contains("viewer, analyst or admin"));
    }

    #[test]
    fn grants_limit_datasets() {
        let mut p = Principal::local();
        assert!(p.may_see("anything"));
        p.datasets = Some(["trial".to_string()].into());
        assert!(p.may_see("trial") && !p.may_see("registry"));
    }
}
