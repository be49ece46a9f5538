//! Reading and writing legal texts. Every write is one transaction: the row, its facets, its
//! search terms, the revision keeping its previous state and the request record commit together
//! or not at all. Updates and deletes are conditional on the etag read, so concurrent writers
//! cannot overwrite each other unseen.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use futures_util::TryStreamExt;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use sse_platform::{
    ServiceError, ServiceResult,
    access::audit,
    database, error,
    filter::{self, FacetTable, FieldKind, FilterField, FilterSchema},
    idempotency::RequestLog,
    lifecycle, names,
    pagination::{self, KeysetPage, ListQuery, OrderField, Page, PageToken, SortType},
    time,
};
use sse_proto::lawguide::{LegalText, LegalTextRevision, SearchResult, legal_text_revision::Change};
use tokio::sync::Semaphore;

use crate::{
    analysis::{IndexedText, Query, QueryWord},
    entity::{legal_text, posting, revision},
    resource::{self, KIND_PREFIX, KINDS, LEVEL_PREFIX, LEVELS, STATUS_PREFIX, STATUSES},
    search::{self, Collection},
};

const TABLE: &str = "legal_texts";

/// One row per value of the repeated fields filters reach (topics, related initiatives).
pub const FACETS: FacetTable = FacetTable::new("legal_text_facets", "legal_text_id");

/// What ListLegalTexts, SearchLegalTexts and CompareJurisdictions filters can reach (the README
/// documents the grammar).
pub const FILTER_SCHEMA: FilterSchema = FilterSchema {
    table: TABLE,
    id_column: "id",
    fields: &[
        FilterField::new("name", "id", FieldKind::ResourceName { prefix: "legalTexts/" }),
        FilterField::new("jurisdiction", "jurisdiction", FieldKind::Text),
        FilterField::named(
            "level",
            FieldKind::Enum {
                prefix: LEVEL_PREFIX,
                values: LEVELS,
            },
        ),
        FilterField::named(
            "kind",
            FieldKind::Enum {
                prefix: KIND_PREFIX,
                values: KINDS,
            },
        ),
        FilterField::named(
            "status",
            FieldKind::Enum {
                prefix: STATUS_PREFIX,
                values: STATUSES,
            },
        ),
        FilterField::new("language", "language", FieldKind::Text),
        FilterField::new("number", "number", FieldKind::Text),
        FilterField::new("title", "title", FieldKind::Text),
        FilterField::new("title_en", "title_en", FieldKind::Text),
        FilterField::new("summary", "summary", FieldKind::Text),
        FilterField::named("topics", FieldKind::RepeatedText),
        FilterField::named("related_initiatives", FieldKind::RepeatedText),
        FilterField::named("adoption_date", FieldKind::Date),
        FilterField::named("publication_date", FieldKind::Date),
        FilterField::named("entry_into_force_date", FieldKind::Date),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("update_time", FieldKind::Timestamp),
    ],
    text_columns: &["id", "number", "title", "title_en", "summary"],
    facets: Some(FACETS),
};

const ORDER_FIELDS: &[OrderField] = &[
    OrderField::new("name", "id", SortType::Text),
    OrderField::named("jurisdiction", SortType::Text),
    OrderField::named("adoption_date", SortType::Text),
    OrderField::named("publication_date", SortType::Text),
    OrderField::named("entry_into_force_date", SortType::Text),
    OrderField::named("create_time", SortType::Integer),
    OrderField::named("update_time", SortType::Integer),
];

/// Where requests with a `request_id` are recorded.
pub const REQUEST_LOG: RequestLog = RequestLog {
    table: "legal_text_requests",
};

/// The method name request records are kept under.
pub const CREATE_METHOD: &str = "CreateLegalText";
/// The most terms one postings query asks for.
const TERM_CHUNK: usize = 500;

/// The condition of a filter, after checking what the shared schema cannot: that `topics`
/// values name topics (the facets hold any text, so an unknown one would silently match nothing).
pub fn filter_condition(filter: &str) -> ServiceResult<Option<Condition>> {
    if let Ok(Some(expr)) = filter::parse(filter) {
        check_topic_values(&expr)?;
    }
    FILTER_SCHEMA.condition(filter)
}

fn check_topic_values(expr: &filter::Expr) -> ServiceResult<()> {
    match expr {
        filter::Expr::And(items) | filter::Expr::Or(items) => items.iter().try_for_each(check_topic_values),
        filter::Expr::Not(inner) => check_topic_values(inner),
        filter::Expr::Compare {
            field, value, position, ..
        } if field == "topics" && resource::topic_from_name(value.as_str()).is_none() => {
            let description = format!(
                "filter error at position {position}: `topics` takes a topic such as PUBLIC_PROCUREMENT or TOPIC_REGISTRY, not {}",
                sse_platform::validate::quoted(value.as_str())
            );
            Err(ServiceError::InvalidArgument {
                reason: "INVALID_FILTER",
                message: format!("invalid filter: {description}"),
                violations: vec![sse_platform::FieldViolation::new("filter", description)],
            })
        }
        _ => Ok(()),
    }
}

/// One legal text to create, already validated.
pub struct NewLegalText {
    pub id: Option<String>,
    pub legal_text: LegalText,
    pub request_id: String,
}

pub struct SearchQuery<'a> {
    pub query: &'a str,
    pub filter: &'a str,
    pub language: &'a str,
    pub page_size: i32,
    pub page_token: &'a str,
}

pub struct SearchPage {
    pub results: Vec<SearchResult>,
    pub next_page_token: String,
    pub total_size: i32,
}

/// A synthetic legal text (see `generate`), with its earlier states, oldest first.
pub struct GeneratedText {
    pub id: String,
    pub legal_text: LegalText,
    pub earlier: Vec<LegalText>,
    /// Microseconds since the Unix epoch.
    pub create_time: i64,
}

pub struct RevisionPage {
    pub revisions: Vec<LegalTextRevision>,
    pub next_page_token: String,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    rankings: Arc<Rankings>,
    /// Rankings computed at once. A broad query reads tens of thousands of postings and ranks
    /// in Rust: as many at once as there are cores keeps the processor busy, and the memory of
    /// a burst of different searches bounded whatever the number of callers.
    ranking_permits: Arc<Semaphore>,
}

/// The table holding the search index's version: one row, whose `version` every write of a
/// text, its postings included, increments in its own transaction.
pub const INDEX_VERSION_TABLE: &str = "legal_text_index_version";

/// The most rankings kept in memory; past it, all are dropped and the cache refills.
const MAX_CACHED_RANKINGS: usize = 128;

/// The rankings of recent searches, by query, language and filter, each with the index version
/// it was computed at, and the pages of it already shown. A search already ranked at the
/// current version (the next page, or the same search by another user) reads only the version,
/// and the page's texts unless that page was shown too.
#[derive(Default)]
struct Rankings {
    entries: Mutex<HashMap<RankingKey, Ranking>>,
}

/// Query, language and filter.
type RankingKey = (String, String, String);

/// The results of a page shown.
type SharedPage = Arc<Vec<SearchResult>>;

#[derive(Clone)]
struct Ranking {
    version: i64,
    ranked: Arc<Vec<search::Ranked>>,
    /// Pages shown, by offset and size.
    pages: HashMap<(usize, usize), Arc<Vec<SearchResult>>>,
}

/// The most pages kept per ranking.
const MAX_CACHED_PAGES: usize = 16;

impl Rankings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RankingKey, Ranking>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ranking of `key` at `version`, and the page at `page` if it was shown.
    fn get(
        &self,
        key: &RankingKey,
        version: i64,
        page: (usize, usize),
    ) -> Option<(Arc<Vec<search::Ranked>>, Option<SharedPage>)> {
        let entries = self.lock();
        let ranking = entries.get(key).filter(|ranking| ranking.version == version)?;
        Some((ranking.ranked.clone(), ranking.pages.get(&page).cloned()))
    }

    fn put(&self, key: RankingKey, version: i64, ranked: Arc<Vec<search::Ranked>>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED_RANKINGS {
            entries.clear();
        }
        entries.insert(
            key,
            Ranking {
                version,
                ranked,
                pages: HashMap::new(),
            },
        );
    }

    fn put_page(&self, key: &RankingKey, version: i64, page: (usize, usize), results: Arc<Vec<SearchResult>>) {
        let mut entries = self.lock();
        if let Some(ranking) = entries.get_mut(key).filter(|ranking| ranking.version == version) {
            if ranking.pages.len() >= MAX_CACHED_PAGES {
                ranking.pages.clear();
            }
            ranking.pages.insert(page, results);
        }
    }
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Store {
            db,
            rankings: Arc::default(),
            ranking_permits: Arc::new(Semaphore::new(cores)),
        }
    }

    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn get(&self, id: &str) -> ServiceResult<LegalText> {
        let row = find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource::name_of(id)))?;
        resource::from_row(&row)
    }

    /// The texts of `ids`, in their order (an id may repeat), read in one query; NOT_FOUND
    /// names the first missing one.
    #[tracing::instrument(skip_all, fields(count = ids.len()), err(level = "debug", Display))]
    pub async fn get_all(&self, ids: &[&str]) -> ServiceResult<Vec<LegalText>> {
        let wanted: BTreeSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        let rows = legal_text::Entity::find()
            .filter(legal_text::Column::Id.is_in(wanted))
            .all(&self.db)
            .await?;
        let by_id: BTreeMap<&str, &legal_text::Model> = rows.iter().map(|row| (row.id.as_str(), row)).collect();
        ids.iter()
            .map(|id| match by_id.get(id) {
                Some(row) => resource::from_row(row),
                None => Err(ServiceError::not_found(resource::name_of(id))),
            })
            .collect()
    }

    pub async fn exists(&self, id: &str) -> ServiceResult<bool> {
        Ok(find(&self.db, id).await?.is_some())
    }

    /// Whether a text has this id, or had it and was deleted (its revisions remain).
    pub async fn ever_existed(&self, id: &str) -> ServiceResult<bool> {
        if self.exists(id).await? {
            return Ok(true);
        }
        let revisions = revision::Entity::find()
            .filter(revision::Column::LegalTextId.eq(id))
            .count(&self.db)
            .await?;
        Ok(revisions > 0)
    }

    #[tracing::instrument(skip_all, fields(filter = query.filter, order_by = query.order_by), err(level = "debug", Display))]
    pub async fn list(&self, query: ListQuery<'_>) -> ServiceResult<Page<LegalText>> {
        let page = KeysetPage::new(TABLE, &query.page_request(&[]), ORDER_FIELDS, "id")?;
        let mut matching = Condition::all();
        if let Some(filter) = filter_condition(query.filter)? {
            matching = matching.add(filter);
        }
        let total_size = legal_text::Entity::find()
            .filter(matching.clone())
            .count(&self.db)
            .await?;
        let mut rows = page
            .apply(legal_text::Entity::find().filter(matching))?
            .all(&self.db)
            .await?;
        let next_page_token = page.finish(&mut rows, sort_value);
        let legal_texts = rows.iter().map(resource::from_row).collect::<ServiceResult<_>>()?;
        Ok(Page::new(legal_texts, next_page_token, total_size))
    }

    /// Creates a legal text. A `request_id` seen before returns what that request returned, and
    /// writes nothing.
    pub async fn create(&self, item: NewLegalText) -> ServiceResult<LegalText> {
        let created = error::concurrent_writes_abort(self.try_create(&item).await);
        if error::conflict_may_be_a_retry(&created, !item.request_id.is_empty()) {
            return error::concurrent_writes_abort(self.try_create(&item).await);
        }
        created
    }

    async fn try_create(&self, item: &NewLegalText) -> ServiceResult<LegalText> {
        let txn = database::begin_write(&self.db).await?;
        if let Some(response) = REQUEST_LOG.recorded(&txn, CREATE_METHOD, &item.request_id).await? {
            return Ok(response);
        }
        let id = item.id.clone().unwrap_or_else(names::generate_id);
        if find(&txn, &id).await?.is_some() {
            return Err(ServiceError::already_exists(resource::name_of(&id)));
        }
        let now = time::now_micros();
        let mut stored = item.legal_text.clone();
        stored.name = resource::name_of(&id);
        stored.create_time = Some(time::timestamp(now));
        stored.update_time = Some(time::timestamp(now));
        resource::set_etag(&mut stored)?;
        let indexed = resource::index(&stored);
        legal_text::Entity::insert(resource::to_row(&stored, &id, &indexed)?)
            .exec_without_returning(&txn)
            .await?;
        write_derived(&txn, &stored, &id, &indexed).await?;
        bump_index_version(&txn, 1, indexed.weighted_length).await?;
        REQUEST_LOG
            .record(&txn, CREATE_METHOD, &item.request_id, &stored, now)
            .await?;
        audit::record(&txn, &stored.name, &item.request_id).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Writes many texts at once, with their facets, search index and revisions, in one
    /// transaction of a few multi-row statements per table; ids already taken (by a text, or by
    /// the revisions of a deleted one) are skipped. Returns how many texts were written.
    pub async fn insert_generated(&self, texts: Vec<GeneratedText>) -> ServiceResult<usize> {
        let ids: Vec<String> = texts.iter().map(|text| text.id.clone()).collect();
        let txn = database::begin_write(&self.db).await?;
        let mut taken: BTreeSet<String> = legal_text::Entity::find()
            .select_only()
            .column(legal_text::Column::Id)
            .filter(legal_text::Column::Id.is_in(ids.iter().cloned()))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        taken.extend(
            revision::Entity::find()
                .select_only()
                .column(revision::Column::LegalTextId)
                .distinct()
                .filter(revision::Column::LegalTextId.is_in(ids))
                .into_tuple::<String>()
                .all(&txn)
                .await?,
        );
        let mut rows = Vec::new();
        let mut facets = Vec::new();
        let mut postings = Vec::new();
        let mut revisions = Vec::new();
        let mut total_length = 0;
        for text in texts {
            if taken.contains(&text.id) {
                continue;
            }
            let created = text.create_time;
            let mut states = text.earlier;
            states.push(text.legal_text);
            let last = states.len() - 1;
            for (position, state) in states.iter_mut().enumerate() {
                // Each state was written a second after the one before.
                let written = created + i64::try_from(position).unwrap_or_default() * 1_000_000;
                state.name = resource::name_of(&text.id);
                state.create_time = Some(time::timestamp(created));
                state.update_time = Some(time::timestamp(written));
                resource::set_etag(state)?;
                if position < last {
                    revisions.push(revision::ActiveModel::from(revision::Model {
                        legal_text_id: text.id.clone(),
                        revision_id: i64::try_from(position).unwrap_or_default() + 1,
                        change: change_name(Change::Update).to_owned(),
                        revision_create_time: written + 1_000_000,
                        resource: resource::to_json(state)?,
                    }));
                }
            }
            let stored = &states[last];
            let indexed = resource::index(stored);
            total_length += indexed.weighted_length;
            rows.push(resource::to_row(stored, &text.id, &indexed)?);
            let mut values = resource::facets(stored);
            values.sort();
            values.dedup();
            facets.extend(values.into_iter().map(|(field, value)| (text.id.clone(), field, value)));
            postings.extend(resource::postings(&indexed, &text.id));
        }
        let written = rows.len();
        database::insert_all::<legal_text::Entity>(&txn, rows).await?;
        FACETS.insert_new(&txn, facets).await?;
        insert_postings(&txn, postings).await?;
        database::insert_all::<revision::Entity>(&txn, revisions).await?;
        bump_index_version(&txn, i64::try_from(written).unwrap_or_default(), total_length).await?;
        txn.commit().await?;
        Ok(written)
    }

    /// Changes one legal text if its etag is still `etag` (when given), keeping its previous
    /// state as a revision. The write is conditional on the etag read, so a concurrent change
    /// in between is refused with ABORTED rather than overwritten.
    #[tracing::instrument(skip(self, change), err(level = "debug", Display))]
    pub async fn modify(
        &self,
        id: &str,
        etag: &str,
        change: impl FnOnce(&mut LegalText) -> ServiceResult<()>,
    ) -> ServiceResult<LegalText> {
        let result: ServiceResult<LegalText> = async {
            let txn = database::begin_write(&self.db).await?;
            let (row, previous) = read_for_change(&txn, id, etag).await?;
            let mut changed = previous.clone();
            change(&mut changed)?;
            let now = time::now_micros();
            changed.name = resource::name_of(id);
            changed.create_time = previous.create_time;
            changed.update_time = Some(time::timestamp(now));
            resource::set_etag(&mut changed)?;
            let indexed = resource::index(&changed);
            let written = legal_text::Entity::update_many()
                .set(resource::to_row(&changed, id, &indexed)?)
                .filter(legal_text::Column::Id.eq(id))
                .filter(legal_text::Column::Etag.eq(row.etag.clone()))
                .exec(&txn)
                .await?;
            if written.rows_affected != 1 {
                return Err(lifecycle::stale_etag(&resource::name_of(id)));
            }
            keep_revision(&txn, id, &previous, Change::Update, now).await?;
            delete_derived(&txn, id).await?;
            write_derived(&txn, &changed, id, &indexed).await?;
            bump_index_version(&txn, 0, indexed.weighted_length - row.search_length).await?;
            audit::record(&txn, &resource::name_of(id), "").await?;
            txn.commit().await?;
            Ok(changed)
        }
        .await;
        error::concurrent_writes_abort(result)
    }

    /// Deletes one legal text if its etag is still `etag` (when given); its last state is kept
    /// as a revision, which is returned.
    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn delete(&self, id: &str, etag: &str) -> ServiceResult<LegalTextRevision> {
        let result: ServiceResult<LegalTextRevision> = async {
            let txn = database::begin_write(&self.db).await?;
            let (row, previous) = read_for_change(&txn, id, etag).await?;
            let now = time::now_micros();
            delete_derived(&txn, id).await?;
            let deleted = legal_text::Entity::delete_many()
                .filter(legal_text::Column::Id.eq(id))
                .filter(legal_text::Column::Etag.eq(row.etag.clone()))
                .exec(&txn)
                .await?;
            if deleted.rows_affected != 1 {
                return Err(lifecycle::stale_etag(&resource::name_of(id)));
            }
            let kept = keep_revision(&txn, id, &previous, Change::Delete, now).await?;
            bump_index_version(&txn, -1, -row.search_length).await?;
            audit::record(&txn, &resource::name_of(id), "").await?;
            txn.commit().await?;
            Ok(kept)
        }
        .await;
        error::concurrent_writes_abort(result)
    }

    /// The revisions of a text, newest first; NOT_FOUND when the text neither exists nor has any.
    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn list_revisions(&self, id: &str, page_size: i32, page_token: &str) -> ServiceResult<RevisionPage> {
        let page_size = pagination::page_size(page_size)?;
        let fingerprint = pagination::query_fingerprint(&["revisions", id]);
        let token = PageToken::decode(page_token, &fingerprint)?;
        let mut query = revision::Entity::find()
            .filter(revision::Column::LegalTextId.eq(id))
            .order_by_desc(revision::Column::RevisionId);
        if let Some(token) = token {
            let before = token
                .last_key
                .first()
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| pagination::invalid_page_token("not a token returned by this list call".to_owned()))?;
            query = query.filter(revision::Column::RevisionId.lt(before));
        }
        let mut rows = query.limit(page_size + 1).all(&self.db).await?;
        if rows.is_empty() && page_token.is_empty() && find(&self.db, id).await?.is_none() {
            return Err(ServiceError::not_found(resource::name_of(id)));
        }
        let mut next_page_token = String::new();
        if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            if let Some(last) = rows.last() {
                next_page_token = PageToken::new(fingerprint, vec![last.revision_id.into()]).encode();
            }
        }
        Ok(RevisionPage {
            revisions: rows.iter().map(revision_from_row).collect::<ServiceResult<_>>()?,
            next_page_token,
        })
    }

    /// Ranks the texts matching the query (and the filter), and returns one page of them with
    /// their snippets. Pages are offsets into the ranking, carried in a token bound to the
    /// query, filter and language.
    #[tracing::instrument(skip_all, fields(query = query.query, filter = query.filter), err(level = "debug", Display))]
    pub async fn search(&self, query: SearchQuery<'_>) -> ServiceResult<SearchPage> {
        let page_size = pagination::page_size(query.page_size)?;
        let fingerprint = pagination::query_fingerprint(&["search", query.query, query.filter, query.language]);
        let offset = match PageToken::decode(query.page_token, &fingerprint)? {
            None => 0,
            Some(token) => token
                .last_key
                .first()
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| pagination::invalid_page_token("not a token returned by this search".to_owned()))?,
        };
        let condition = filter_condition(query.filter)?;
        let language = Some(query.language).filter(|language| !language.is_empty());
        let parsed = Query::parse(query.query, language);
        let key = (
            query.query.to_owned(),
            query.language.to_owned(),
            query.filter.to_owned(),
        );
        let IndexState { version, collection } = index_state(&self.db).await?;
        let requested = (usize::try_from(offset).unwrap_or(usize::MAX), page_size as usize);
        let (ranked, shown) = match self.rankings.get(&key, version, requested) {
            Some(found) => found,
            None => {
                let _permit = self
                    .ranking_permits
                    .acquire()
                    .await
                    .map_err(|error| ServiceError::Internal(error.into()))?;
                // Callers of the same search that waited for a permit find it ranked.
                if let Some(found) = self.rankings.get(&key, version, requested) {
                    found
                } else {
                    let ranked = Arc::new(self.rank(&parsed, condition, collection).await?);
                    self.rankings.put(key.clone(), version, ranked.clone());
                    (ranked, None)
                }
            }
        };

        let start = requested.0.min(ranked.len());
        let end = start.saturating_add(requested.1).min(ranked.len());
        let results = match shown {
            Some(results) => results,
            None => {
                let results = Arc::new(self.page(&ranked[start..end], &parsed.words).await?);
                self.rankings.put_page(&key, version, requested, results.clone());
                results
            }
        };
        let next_page_token = if end < ranked.len() {
            PageToken::new(fingerprint, vec![(end as u64).into()]).encode()
        } else {
            String::new()
        };
        Ok(SearchPage {
            results: results.as_ref().clone(),
            next_page_token,
            total_size: i32::try_from(ranked.len()).unwrap_or(i32::MAX),
        })
    }

    /// The results of one page of a ranking: the texts and their snippets. A text deleted
    /// between the two reads is left out of the page rather than failing it.
    async fn page(&self, page: &[search::Ranked], words: &[QueryWord]) -> ServiceResult<Vec<SearchResult>> {
        let ids: Vec<String> = page.iter().map(|ranked| ranked.legal_text_id.clone()).collect();
        let mut texts: BTreeMap<String, LegalText> = BTreeMap::new();
        for row in legal_text::Entity::find()
            .filter(legal_text::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
        {
            texts.insert(row.id.clone(), resource::from_row(&row)?);
        }
        Ok(page
            .iter()
            .filter_map(|ranked| {
                let text = texts.remove(&ranked.legal_text_id)?;
                Some(SearchResult {
                    snippets: search::snippets(&text, words),
                    legal_text: Some(text),
                    score: ranked.score,
                })
            })
            .collect())
    }

    /// Every text matching `parsed` (and `condition`), ranked, read from the postings of the
    /// query's terms.
    async fn rank(
        &self,
        parsed: &Query,
        condition: Option<Condition>,
        collection: Collection,
    ) -> ServiceResult<Vec<search::Ranked>> {
        let terms: BTreeSet<String> = parsed.terms().cloned().collect();
        let terms: Vec<String> = terms.into_iter().collect();

        // Streamed into the ranker, which keeps a few counts per text rather than the rows: a
        // broad query reads tens of thousands of postings.
        let mut ranker = search::Ranker::new(parsed);
        for chunk in terms.chunks(TERM_CHUNK) {
            let mut rows = posting::Entity::find()
                .select_only()
                .columns([
                    posting::Column::Term,
                    posting::Column::LegalTextId,
                    posting::Column::Title,
                    posting::Column::Summary,
                    posting::Column::Provisions,
                    posting::Column::Length,
                ])
                .filter(posting::Column::Term.is_in(chunk.iter().cloned()))
                .into_tuple::<(String, String, i32, i32, i32, i64)>()
                .stream(&self.db)
                .await?;
            while let Some((term, legal_text_id, title, summary, provisions, length)) = rows.try_next().await? {
                ranker.add(&term, &legal_text_id, [title, summary, provisions], length);
            }
        }
        // The filter is applied to the texts the postings name only, not to the whole table.
        let allowed = match condition {
            None => None,
            Some(_) if ranker.is_empty() => Some(BTreeSet::new()),
            Some(condition) => Some(
                legal_text::Entity::find()
                    .select_only()
                    .column(legal_text::Column::Id)
                    .filter(condition)
                    .filter(
                        legal_text::Column::Id.in_subquery(
                            sea_orm::sea_query::Query::select()
                                .distinct()
                                .column(posting::Column::LegalTextId)
                                .from(posting::Entity)
                                .and_where(posting::Column::Term.is_in(terms.iter().cloned()))
                                .to_owned(),
                        ),
                    )
                    .into_tuple::<String>()
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .collect::<BTreeSet<String>>(),
            ),
        };
        Ok(ranker.finish(collection, allowed.as_ref()))
    }

    /// Every legal text matching `filter`, and in `jurisdictions` when some are given.
    #[tracing::instrument(skip(self), err(level = "debug", Display))]
    pub async fn matching(&self, filter: &str, jurisdictions: &[String]) -> ServiceResult<Vec<LegalText>> {
        let mut query = legal_text::Entity::find().order_by_asc(legal_text::Column::Id);
        if let Some(condition) = filter_condition(filter)? {
            query = query.filter(condition);
        }
        if !jurisdictions.is_empty() {
            query = query.filter(legal_text::Column::Jurisdiction.is_in(jurisdictions.iter().cloned()));
        }
        query.all(&self.db).await?.iter().map(resource::from_row).collect()
    }
}

async fn find(db: &impl ConnectionTrait, id: &str) -> ServiceResult<Option<legal_text::Model>> {
    Ok(legal_text::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// The row and the text about to change, if its etag is still `etag` (when given).
async fn read_for_change(
    txn: &DatabaseTransaction,
    id: &str,
    etag: &str,
) -> ServiceResult<(legal_text::Model, LegalText)> {
    let row = find(txn, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(resource::name_of(id)))?;
    if !etag.is_empty() && etag != row.etag {
        return Err(lifecycle::stale_etag(&resource::name_of(id)));
    }
    let text = resource::from_row(&row)?;
    Ok((row, text))
}

async fn keep_revision(
    txn: &DatabaseTransaction,
    id: &str,
    previous: &LegalText,
    change: Change,
    now: i64,
) -> ServiceResult<LegalTextRevision> {
    let last = revision::Entity::find()
        .filter(revision::Column::LegalTextId.eq(id))
        .order_by_desc(revision::Column::RevisionId)
        .one(txn)
        .await?;
    let row = revision::Model {
        legal_text_id: id.to_owned(),
        revision_id: last.map_or(1, |last| last.revision_id + 1),
        change: change_name(change).to_owned(),
        revision_create_time: now,
        resource: resource::to_json(previous)?,
    };
    revision::Entity::insert(revision::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    revision_from_row(&row)
}

fn change_name(change: Change) -> &'static str {
    match change {
        Change::Delete => "DELETE",
        Change::Update | Change::Unspecified => "UPDATE",
    }
}

fn revision_from_row(row: &revision::Model) -> ServiceResult<LegalTextRevision> {
    let change = if row.change == "DELETE" {
        Change::Delete
    } else {
        Change::Update
    };
    Ok(LegalTextRevision {
        revision_id: row.revision_id.to_string(),
        legal_text: Some(resource::from_json(&row.resource, &row.legal_text_id)?),
        revision_create_time: Some(time::timestamp(row.revision_create_time)),
        change: change.into(),
    })
}

/// The search index's version and what BM25 needs of the collection, as of one write.
struct IndexState {
    version: i64,
    collection: Collection,
}

/// The search index's state (see [`INDEX_VERSION_TABLE`]), in one read of one row.
async fn index_state(db: &impl ConnectionTrait) -> ServiceResult<IndexState> {
    let select = sea_orm::sea_query::Query::select()
        .columns(["version", "texts", "total_length"])
        .from(INDEX_VERSION_TABLE)
        .to_owned();
    let (version, texts, total_length): (i64, i64, i64) = match db.query_one(&select).await? {
        Some(row) => (
            row.try_get("", "version")?,
            row.try_get("", "texts")?,
            row.try_get("", "total_length")?,
        ),
        None => (0, 0, 0),
    };
    let texts = usize::try_from(texts).unwrap_or_default();
    Ok(IndexState {
        version,
        collection: Collection {
            texts,
            average_length: total_length as f64 / texts.max(1) as f64,
        },
    })
}

/// Marks the search index changed, in the transaction that changes it, with the change in the
/// number of texts and in their total weighted length: searches ranked before are ranked again.
/// Writers of texts wait on each other here until they commit.
pub async fn bump_index_version(db: &impl ConnectionTrait, texts: i64, length: i64) -> ServiceResult<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let update = sea_orm::sea_query::Query::update()
        .table(INDEX_VERSION_TABLE)
        .value("version", Expr::col("version").add(1))
        .value("texts", Expr::col("texts").add(texts))
        .value("total_length", Expr::col("total_length").add(length))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// The number of texts and their total weighted length as the index's state keeps them (which
/// [`count_collection`] must match).
pub async fn kept_collection(db: &impl ConnectionTrait) -> ServiceResult<(i64, i64)> {
    let select = sea_orm::sea_query::Query::select()
        .columns(["texts", "total_length"])
        .from(INDEX_VERSION_TABLE)
        .to_owned();
    match db.query_one(&select).await? {
        Some(row) => Ok((row.try_get("", "texts")?, row.try_get("", "total_length")?)),
        None => Ok((0, 0)),
    }
}

/// How many texts there are, and their total weighted length, counted over the texts' table
/// (the migration's starting point for the index's state).
pub async fn count_collection(db: &impl ConnectionTrait) -> ServiceResult<(i64, i64)> {
    let (texts, total): (i64, Option<i64>) = legal_text::Entity::find()
        .select_only()
        .column_as(legal_text::Column::Id.count(), "texts")
        .column_as(
            sea_orm::sea_query::SimpleExpr::from(sea_orm::sea_query::Func::cast_as(
                sea_orm::sea_query::Func::sum(sea_orm::sea_query::Expr::col(legal_text::Column::SearchLength)),
                "BIGINT",
            )),
            "total",
        )
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or_default();
    Ok((texts, total.unwrap_or_default()))
}

/// Writes a text's facets and search index.
async fn write_derived(
    txn: &DatabaseTransaction,
    stored: &LegalText,
    id: &str,
    indexed: &IndexedText,
) -> ServiceResult<()> {
    FACETS.replace(txn, id, resource::facets(stored)).await?;
    insert_postings(txn, resource::postings(indexed, id)).await
}

/// Inserts postings in as few multi-row statements as the parameter limit allows.
pub async fn insert_postings(txn: &DatabaseTransaction, postings: Vec<posting::ActiveModel>) -> ServiceResult<()> {
    Ok(database::insert_all::<posting::Entity>(txn, postings).await?)
}

/// Removes a text's facets and search index. Explicitly rather than by cascade: SQLite enforces
/// foreign keys only on connections that asked for it.
async fn delete_derived(txn: &DatabaseTransaction, id: &str) -> ServiceResult<()> {
    FACETS.replace(txn, id, Vec::new()).await?;
    posting::Entity::delete_many()
        .filter(posting::Column::LegalTextId.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

fn sort_value(row: &legal_text::Model, column: &str) -> serde_json::Value {
    match column {
        "jurisdiction" => row.jurisdiction.clone().into(),
        "adoption_date" => row.adoption_date.clone().into(),
        "publication_date" => row.publication_date.clone().into(),
        "entry_into_force_date" => row.entry_into_force_date.clone().into(),
        "create_time" => row.create_time.into(),
        "update_time" => row.update_time.into(),
        _ => row.id.clone().into(),
    }
}
