//! Access control data: users (argon2id PHC strings, never a password), API tokens (only the
//! SHA-256 of the token) and login sessions (only the SHA-256 of the session id). The store
//! keeps what it is given; hashing and checking are the web layer's (`web::auth`).

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};
use crate::clock::UnixMillis;

/// What a user or a token may do: viewers read, admins also change things; agents (tokens
/// only) write samples to the receivers (`[receive]`) and read nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }

    /// Whether this role may do what `needed` may: an admin all a viewer may, an agent only
    /// what an agent may (it is not above or below the others: it writes samples, nothing else).
    pub fn grants(self, needed: Role) -> bool {
        matches!(
            (self, needed),
            (Role::Admin, Role::Admin | Role::Viewer)
                | (Role::Viewer, Role::Viewer)
                | (Role::Agent, Role::Agent)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    pub created_ms: UnixMillis,
    pub updated_ms: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_ms: UnixMillis,
    pub revoked_ms: Option<UnixMillis>,
}

/// A login session as stored (the id itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    pub role: Role,
    pub csrf_token: String,
    pub created_ms: UnixMillis,
    pub last_seen_ms: UnixMillis,
}

fn role_of(text: &str) -> Role {
    // Written only by this module; an unknown value can only mean less privilege.
    Role::parse(text).unwrap_or(Role::Viewer)
}

impl Store {
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        self.inner.check_open()?;
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(n as u64)
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.inner.check_open()?;
        let rows =
            sqlx::query("SELECT name, role, created_ms, updated_ms FROM users ORDER BY name")
                .fetch_all(&self.inner.pool)
                .await
                .map_err(|e| self.inner.db(e))?;
        Ok(rows
            .iter()
            .map(|row| UserRecord {
                name: row.get(0),
                role: role_of(row.get(1)),
                created_ms: row.get(2),
                updated_ms: row.get(3),
            })
            .collect())
    }

    /// The role and password hash of `name`, if that user exists.
    pub async fn user_credentials(&self, name: &str) -> Result<Option<(Role, String)>, StoreError> {
        self.inner.check_open()?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT role, password_hash FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(|e| self.inner.db(e))?;
        Ok(row.map(|(role, hash)| (role_of(&role), hash)))
    }

    /// Adds a user; false if one of that name exists already.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let now = self.inner.clock.now_ms();
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_ms, updated_ms)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a user's password hash and ends their sessions; false if there is no such user.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let mut conn = inner.pool.acquire().await.map_err(|e| inner.db(e))?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
            .await
            .map_err(|e| inner.db(e))?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_ms = ? WHERE name = ?")
            .bind(password_hash)
            .bind(inner.clock.now_ms())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| inner.db(e))?;
        sqlx::query("DELETE FROM sessions WHERE user = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| inner.db(e))?;
        tx.commit().await.map_err(|e| inner.db(e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a user (and, by cascade, their sessions); false if there is no such user.
    pub async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn add_token(
        &self,
        id: &str,
        name: &str,
        role: Role,
        token_sha256: &str,
    ) -> Result<(), StoreError> {
        self.inner.check_open()?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_sha256, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_sha256)
        .bind(self.inner.clock.now_ms())
        .execute(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(())
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.check_open()?;
        let rows = sqlx::query(
            "SELECT id, name, role, created_ms, revoked_ms FROM api_tokens ORDER BY created_ms, id",
        )
        .fetch_all(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(rows
            .iter()
            .map(|row| TokenRecord {
                id: row.get(0),
                name: row.get(1),
                role: role_of(row.get(2)),
                created_ms: row.get(3),
                revoked_ms: row.get(4),
            })
            .collect())
    }

    /// The live (not revoked) token whose SHA-256 is `token_sha256`.
    pub async fn token_by_hash(
        &self,
        token_sha256: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.check_open()?;
        let row = sqlx::query(
            "SELECT id, name, role, created_ms FROM api_tokens
             WHERE token_sha256 = ? AND revoked_ms IS NULL",
        )
        .bind(token_sha256)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(row.map(|row| TokenRecord {
            id: row.get(0),
            name: row.get(1),
            role: role_of(row.get(2)),
            created_ms: row.get(3),
            revoked_ms: None,
        }))
    }

    /// Revokes a token; false if there is no live token with that id.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
                .bind(self.inner.clock.now_ms())
                .bind(id)
                .execute(&self.inner.pool)
                .await
                .map_err(|e| self.inner.db(e))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_session(
        &self,
        id_sha256: &str,
        user: &str,
        csrf_token: &str,
        now_ms: UnixMillis,
    ) -> Result<(), StoreError> {
        self.inner.check_open()?;
        sqlx::query(
            "INSERT INTO sessions (id_sha256, user, csrf_token, created_ms, last_seen_ms)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_sha256)
        .bind(user)
        .bind(csrf_token)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(())
    }

    pub async fn session(&self, id_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.check_open()?;
        let row = sqlx::query(
            "SELECT s.user, u.role, s.csrf_token, s.created_ms, s.last_seen_ms
             FROM sessions s JOIN users u ON u.name = s.user WHERE s.id_sha256 = ?",
        )
        .bind(id_sha256)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(|e| self.inner.db(e))?;
        Ok(row.map(|row| SessionRecord {
            user: row.get(0),
            role: role_of(row.get(1)),
            csrf_token: row.get(2),
            created_ms: row.get(3),
            last_seen_ms: row.get(4),
        }))
    }

    pub async fn touch_session(
        &self,
        id_sha256: &str,
        now_ms: UnixMillis,
    ) -> Result<(), StoreError> {
        self.inner.check_open()?;
        sqlx::query("UPDATE sessions SET last_seen_ms = ? WHERE id_sha256 = ?")
            .bind(now_ms)
            .bind(id_sha256)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(())
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.inner.check_open()?;
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = ?")
            .bind(id_sha256)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(())
    }

    /// Drops sessions idle since before `idle_before` or created before `created_before`.
    pub async fn prune_sessions(
        &self,
        idle_before: UnixMillis,
        created_before: UnixMillis,
    ) -> Result<(), StoreError> {
        self.inner.check_open()?;
        sqlx::query("DELETE FROM sessions WHERE last_seen_ms < ? OR created_ms < ?")
            .bind(idle_before)
            .bind(created_before)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::StoreOptions;

    #[tokio::test]
    async fn users_tokens_and_sessions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        assert_eq!(store.count_users().await.unwrap(), 0);
        assert!(store.add_user("ann", Role::Admin, "h1").await.unwrap());
        assert!(!store.add_user("ann", Role::Viewer, "h2").await.unwrap());
        assert_eq!(
            store.user_credentials("ann").await.unwrap(),
            Some((Role::Admin, "h1".to_string()))
        );
        store
            .create_session("s1", "ann", "c1", 1_000)
            .await
            .unwrap();
        assert_eq!(store.session("s1").await.unwrap().unwrap().csrf_token, "c1");
        // A new password ends the user's sessions.
        assert!(store.set_password("ann", "h3").await.unwrap());
        assert!(store.session("s1").await.unwrap().is_none());
        store
            .create_session("s2", "ann", "c2", 1_000)
            .await
            .unwrap();
        assert!(store.remove_user("ann").await.unwrap());
        assert!(store.session("s2").await.unwrap().is_none());
        assert!(!store.remove_user("ann").await.unwrap());

        store
            .add_token("t1", "ci", Role::Viewer, "sha")
            .await
            .unwrap();
        assert_eq!(store.token_by_hash("sha").await.unwrap().unwrap().id, "t1");
        assert!(store.revoke_token("t1").await.unwrap());
        assert!(!store.revoke_token("t1").await.unwrap());
        assert!(store.token_by_hash("sha").await.unwrap().is_none());
        assert_eq!(store.tokens().await.unwrap()[0].revoked_ms, Some(1_000));
    }

    #[tokio::test]
    async fn an_agent_token_keeps_its_role() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default(), ManualClock::new(1_000))
            .await
            .unwrap();
        store
            .add_token("t2", "web-1", Role::Agent, "sha2")
            .await
            .unwrap();
        let token = store.token_by_hash("sha2").await.unwrap().unwrap();
        assert_eq!((token.role, token.name.as_str()), (Role::Agent, "web-1"));
    }

    #[test]
    fn an_agent_is_neither_above_nor_below_the_other_roles() {
        assert!(Role::Admin.grants(Role::Viewer) && Role::Admin.grants(Role::Admin));
        assert!(Role::Viewer.grants(Role::Viewer) && !Role::Viewer.grants(Role::Admin));
        assert!(Role::Agent.grants(Role::Agent));
        for other in [Role::Viewer, Role::Admin] {
            assert!(!Role::Agent.grants(other), "an agent reads nothing");
            assert!(!other.grants(Role::Agent), "{other:?} cannot write samples");
        }
    }
}
