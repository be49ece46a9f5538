//! API keys: a secret of 256 random bits shown once (`sse_…`), kept only as its SHA-256, with a
//! name, scopes, an optional expiry and a revoke time. [`KeyStore`] writes and reads them in the
//! access store; [`KeyRing`] is the copy every process checks calls against, reloaded when it is
//! older than [`KeyRing::MAX_AGE`], so a key created or revoked anywhere takes effect everywhere
//! within about a second, whichever process or database the services run in.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::{Caller, Scope, audit, schema::api_key};
use crate::{
    ServiceError, ServiceResult, database,
    filter::{FieldKind, FilterField, FilterSchema},
    names,
    pagination::{self, ListCounts, ListQuery, ListSpec, OrderField, Page, SortType},
    time,
};

/// How every key starts, so that one pasted in the wrong place is recognised (secret scanners
/// look for such prefixes).
pub const KEY_PREFIX: &str = "sse_";
/// The characters of a key kept in the clear, to tell keys apart in a list.
const SHOWN_PREFIX_CHARS: usize = KEY_PREFIX.len() + 8;
/// The longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A new secret: `sse_` and 256 bits from the operating system's CSPRNG, base64url.
pub fn generate_secret() -> anyhow::Result<String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|error| anyhow::anyhow!("no randomness for a key: {error}"))?;
    Ok(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random)))
}

/// The digest a key is stored and looked up by. A fast hash suffices: the secret is random, not
/// a password a person chose.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn name_of(id: &str) -> String {
    format!("apiKeys/{id}")
}

/// A key to create, already validated.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub display_name: String,
    pub scopes: Vec<Scope>,
    /// Microseconds since the epoch.
    pub expire_time: Option<i64>,
}

/// The scopes stored for a key: known names, separated by spaces.
pub fn scopes_of(row: &api_key::Model) -> Vec<Scope> {
    row.scopes.split_whitespace().filter_map(Scope::parse).collect()
}

/// What ListApiKeys filters can reach.
const FILTER_SCHEMA: FilterSchema = FilterSchema {
    table: "api_keys",
    id_column: "id",
    fields: &[
        FilterField::new("name", "id", FieldKind::ResourceName { prefix: "apiKeys/" }),
        FilterField::named("display_name", FieldKind::Text),
        FilterField::named("scopes", FieldKind::Text),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("expire_time", FieldKind::Timestamp),
        FilterField::named("revoke_time", FieldKind::Timestamp),
    ],
    text_columns: &["id", "display_name", "scopes"],
    facets: None,
};

const LIST: ListSpec = ListSpec {
    filter: &FILTER_SCHEMA,
    order: &[
        OrderField::new("name", "id", SortType::Text),
        OrderField::named("display_name", SortType::Text),
        OrderField::named("create_time", SortType::Integer),
    ],
    unique_column: "id",
    delete_time_column: None,
};

/// The keys in the access store.
#[derive(Clone)]
pub struct KeyStore {
    db: DatabaseConnection,
    counts: Arc<ListCounts>,
}

impl KeyStore {
    pub fn new(db: DatabaseConnection) -> KeyStore {
        KeyStore {
            db,
            counts: Arc::default(),
        }
    }

    /// Creates a key; returns it and its secret, which is not kept. The audit event of the
    /// creation commits with it.
    pub async fn create(&self, new: NewKey) -> ServiceResult<(api_key::Model, String)> {
        let secret = generate_secret()?;
        let id = names::generate_id();
        let row = api_key::Model {
            id: id.clone(),
            display_name: new.display_name,
            scopes: new
                .scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            key_hash: hex::encode(digest(&secret)),
            key_prefix: secret.chars().take(SHOWN_PREFIX_CHARS).collect(),
            create_time: time::now_micros(),
            expire_time: new.expire_time,
            revoke_time: None,
        };
        let txn = database::begin_write(&self.db).await?;
        api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        audit::record(&txn, &name_of(&id), "").await?;
        txn.commit().await?;
        self.counts.changed();
        Ok((row, secret))
    }

    pub async fn get(&self, id: &str) -> ServiceResult<api_key::Model> {
        api_key::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ServiceError::not_found(name_of(id)))
    }

    pub async fn list(&self, query: ListQuery<'_>) -> ServiceResult<Page<api_key::Model>> {
        pagination::list_rows::<api_key::Entity>(
            &self.db,
            &LIST,
            &query,
            (&[], Condition::all()),
            |row, column| match column {
                "display_name" => row.display_name.clone().into(),
                "create_time" => row.create_time.into(),
                _ => row.id.clone().into(),
            },
            &self.counts,
        )
        .await
    }

    /// Revokes a key (again: a revoked key keeps its first revoke time). The audit event
    /// commits with the change.
    pub async fn revoke(&self, id: &str) -> ServiceResult<api_key::Model> {
        let txn = database::begin_write(&self.db).await?;
        let mut row = api_key::Entity::find_by_id(id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found(name_of(id)))?;
        if row.revoke_time.is_none() {
            let now = time::now_micros();
            api_key::Entity::update_many()
                .set(api_key::ActiveModel {
                    revoke_time: Set(Some(now)),
                    ..Default::default()
                })
                .filter(api_key::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            row.revoke_time = Some(now);
        }
        audit::record(&txn, &name_of(id), "").await?;
        txn.commit().await?;
        self.counts.changed();
        Ok(row)
    }

    async fn all(&self) -> Result<Vec<api_key::Model>, sea_orm::DbErr> {
        api_key::Entity::find().all(&self.db).await
    }
}

/// Why presented credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    Expired,
}

/// What a process knows of one key.
#[derive(Debug, Clone)]
struct KnownKey {
    name: String,
    scopes: Vec<Scope>,
    expire_time: Option<i64>,
    revoked: bool,
}

/// Every key, by digest, as last read from the access store.
pub struct KeyRing {
    store: KeyStore,
    snapshot: RwLock<Snapshot>,
    /// One reload at a time; callers arriving meanwhile wait for it rather than reload again.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Snapshot {
    keys: Arc<HashMap<[u8; 32], KnownKey>>,
    loaded_at: Option<Instant>,
}

impl KeyRing {
    /// How stale the copy may be: a key created or revoked in another process is seen within
    /// this (and the next call).
    pub const MAX_AGE: Duration = Duration::from_secs(1);

    pub fn new(store: KeyStore) -> KeyRing {
        KeyRing {
            store,
            snapshot: RwLock::new(Snapshot::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The caller a presented secret identifies, or why it is refused.
    pub async fn identify(&self, secret: &str) -> ServiceResult<Result<Caller, Refusal>> {
        let keys = self.current().await?;
        let Some(key) = keys.get(&digest(secret)) else {
            return Ok(Err(Refusal::Unknown));
        };
        if key.revoked {
            return Ok(Err(Refusal::Revoked));
        }
        if key.expire_time.is_some_and(|expiry| expiry <= time::now_micros()) {
            return Ok(Err(Refusal::Expired));
        }
        Ok(Ok(Caller::Key {
            name: key.name.clone(),
            scopes: key.scopes.clone(),
        }))
    }

    /// Makes the next call reload (after a change made in this process).
    pub fn invalidate(&self) {
        if let Ok(mut snapshot) = self.snapshot.write() {
            snapshot.loaded_at = None;
        }
    }

    async fn current(&self) -> ServiceResult<Arc<HashMap<[u8; 32], KnownKey>>> {
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        let _reloading = self.reloading.lock().await;
        if let Some(keys) = self.fresh() {
            return Ok(keys);
        }
        match self.store.all().await {
            Ok(rows) => {
                let keys: HashMap<[u8; 32], KnownKey> = rows
                    .iter()
                    .filter_map(|row| {
                        let mut digest = [0u8; 32];
                        hex::decode_to_slice(&row.key_hash, &mut digest).ok()?;
                        let key = KnownKey {
                            name: name_of(&row.id),
                            scopes: scopes_of(row),
                            expire_time: row.expire_time,
                            revoked: row.revoke_time.is_some(),
                        };
                        Some((digest, key))
                    })
                    .collect();
                let keys = Arc::new(keys);
                if let Ok(mut snapshot) = self.snapshot.write() {
                    *snapshot = Snapshot {
                        keys: keys.clone(),
                        loaded_at: Some(Instant::now()),
                    };
                }
                Ok(keys)
            }
            Err(error) => {
                // Keys already known keep working through an outage of the access store; a
                // process that never read them cannot tell a key from a guess.
                // Tried again after MAX_AGE, not on every call meanwhile.
                let stale = self.snapshot.write().ok().and_then(|mut snapshot| {
                    snapshot.loaded_at?;
                    snapshot.loaded_at = Some(Instant::now());
                    Some(snapshot.keys.clone())
                });
                match stale {
                    Some(keys) => {
                        tracing::warn!(%error, "cannot reload API keys; using the last ones read");
                        Ok(keys)
                    }
                    None => Err(ServiceError::unavailable("the access store is unavailable")),
                }
            }
        }
    }

    fn fresh(&self) -> Option<Arc<HashMap<[u8; 32], KnownKey>>> {
        let snapshot = self.snapshot.read().ok()?;
        let loaded_at = snapshot.loaded_at?;
        (loaded_at.elapsed() < Self::MAX_AGE).then(|| snapshot.keys.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let first = generate_secret().expect("secret");
        let second = generate_secret().expect("secret");
        assert!(first.starts_with("sse_"));
        assert_eq!(first.len(), 4 + 43, "256 bits in base64url");
        assert_ne!(first, second);
        assert_ne!(digest(&first), digest(&second));
    }
}
