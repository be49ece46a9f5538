//! `observatory import` and `observatory export`: resources in bulk, to and from CSV, JSON Lines
//! and (for observations) SDMX-CSV, always through the services' public gRPC API, so that an
//! import is checked, made idempotent and audited exactly as a partner's calls are. The same
//! code runs against this process's own services (on the configured database) or against a
//! deployed observatory (`--server URL --api-key KEY`).
//!
//! This module is the generic part: formats, batching, the row-numbered report of invalid rows,
//! dry runs, `--on-error`, progress. What a resource is (its message, how to list, look up and
//! create it) each service says through a [`TransferKind`] (`ServiceModule::transfer_kinds`).

pub mod command;
pub mod progress;
pub mod table;

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, Write},
    path::Path,
    sync::LazyLock,
    time::Duration,
};

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use sha2::{Digest, Sha256};
use tonic::{Code, Status, metadata::AsciiMetadataValue};
use tonic_types::StatusExt;

pub use progress::Progress;
pub use table::{FieldError, Layout, OUTPUT_ONLY_FIELDS};

use crate::{calls::ServiceChannel, module::BoxFuture};

/// A file format of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One header row, then a resource a row (docs/import-export.md has each kind's columns).
    Csv,
    /// One resource a line, as proto3 JSON.
    Jsonl,
    /// SDMX-CSV 2.0, for observations.
    SdmxCsv,
}

impl Format {
    /// The format a file's extension says: `.csv`, `.jsonl` (or `.ndjson`); `.sdmx.csv` for
    /// SDMX-CSV.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".sdmx.csv") {
            Some(Format::SdmxCsv)
        } else if name.ends_with(".csv") {
            Some(Format::Csv)
        } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// What an import does with invalid rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Writes the batches before the first invalid row, and nothing from there on.
    #[default]
    Stop,
    /// Writes every valid row, and reports the invalid ones.
    Skip,
}

/// How long one call of an import or export may take: a full batch of observations included.
const CALL_DEADLINE: Duration = Duration::from_secs(120);

/// How import and export reach the services: a channel (in process, or to `--server`) and the
/// credentials each call carries.
#[derive(Clone)]
pub struct Api {
    channel: ServiceChannel,
    authorization: Option<AsciiMetadataValue>,
}

impl Api {
    /// Calls over `channel`, with `api_key` as the bearer when given.
    pub fn new(channel: ServiceChannel, api_key: Option<&str>) -> anyhow::Result<Api> {
        let authorization = match api_key {
            Some(key) => Some(
                AsciiMetadataValue::try_from(format!("Bearer {}", key.trim()))
                    .map_err(|_| anyhow::anyhow!("the API key must be printable ASCII"))?,
            ),
            None => None,
        };
        Ok(Api { channel, authorization })
    }

    pub fn channel(&self) -> ServiceChannel {
        self.channel.clone()
    }

    /// A request carrying the credentials and a deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(CALL_DEADLINE);
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        request
    }
}

/// One page of resources and the token of the next (empty after the last).
pub type Page = (Vec<DynamicMessage>, String);

/// Why a create (or its check) refused resources.
#[derive(Debug)]
pub enum Rejection {
    /// Items of the call are invalid: their position in the call and what is wrong.
    Items(Vec<(usize, FieldError)>),
    /// The call failed for another reason.
    Failed(Status),
}

impl From<Status> for Rejection {
    fn from(status: Status) -> Rejection {
        Rejection::Failed(status)
    }
}

/// One kind of resource that can be imported and exported, as the service owning it knows it.
pub trait TransferKind: Send + Sync {
    /// Its name on the command line, e.g. `initiatives`.
    fn kind(&self) -> &'static str;

    /// The full name of its message, e.g. `sse.initiatives.v1.Initiative`.
    fn message(&self) -> &'static str;

    /// How many resources one create call takes.
    fn batch_size(&self) -> usize;

    /// A page of live resources (`page_token` empty for the first), ordered by name.
    fn list<'a>(&'a self, api: &'a Api, page_token: String) -> BoxFuture<'a, Result<Page, Status>>;

    /// Those of `names` that exist, deleted ones included.
    fn existing<'a>(&'a self, api: &'a Api, names: Vec<String>) -> BoxFuture<'a, Result<HashSet<String>, Status>>;

    /// Creates `resources` (which carry their names), or only checks them when `validate_only`.
    /// `request_id` is the same for the same batch, for the batch calls that take one.
    fn create<'a>(
        &'a self,
        api: &'a Api,
        resources: Vec<DynamicMessage>,
        request_id: String,
        validate_only: bool,
    ) -> BoxFuture<'a, Result<(), Rejection>>;

    /// The name of a resource read without one: derived from its content (see [`content_id`]),
    /// so that importing the same row again finds it.
    fn derived_name(&self, resource: &DynamicMessage) -> Result<String, FieldError>;

    /// SDMX-CSV, for the kinds that have it.
    fn sdmx_csv(&self) -> Option<&dyn SdmxCsv> {
        None
    }
}

/// A kind's SDMX-CSV: written by the service, read row by row here.
pub trait SdmxCsv: Send + Sync {
    /// Writes every resource as one SDMX-CSV document to `output`; returns how many.
    fn export<'a>(&'a self, api: &'a Api, output: &'a mut (dyn Write + Send)) -> BoxFuture<'a, anyhow::Result<u64>>;

    /// The resource of one row, given the file's header row.
    fn parse(&self, headers: &[String], cells: &csv::StringRecord) -> Result<DynamicMessage, Vec<FieldError>>;
}

static CONTRACTS: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(sse_proto::FILE_DESCRIPTOR_SET).ok());

/// The descriptor of a message of the contracts.
pub fn descriptor(full_name: &str) -> anyhow::Result<MessageDescriptor> {
    CONTRACTS
        .as_ref()
        .and_then(|pool| pool.get_message_by_name(full_name))
        .ok_or_else(|| anyhow::anyhow!("no message {full_name} in the contracts"))
}

/// `message` as a dynamic message of `full_name`.
pub fn to_dynamic<T: prost::Message>(message: &T, full_name: &str) -> Result<DynamicMessage, Status> {
    let descriptor = descriptor(full_name).map_err(|error| Status::internal(error.to_string()))?;
    let mut dynamic = DynamicMessage::new(descriptor);
    dynamic
        .transcode_from(message)
        .map_err(|error| Status::internal(error.to_string()))?;
    Ok(dynamic)
}

/// `message` as the generated type `T`.
pub fn from_dynamic<T: prost::Message + Default>(message: &DynamicMessage) -> Result<T, Status> {
    message
        .transcode_to::<T>()
        .map_err(|error| Status::internal(error.to_string()))
}

/// The `name` of a resource.
pub fn name_of(resource: &DynamicMessage) -> String {
    text_of(resource, "name")
}

/// The value of a string `field` of `resource`; empty when unset or not a string.
pub fn text_of(resource: &DynamicMessage, field: &str) -> String {
    match resource.get_field_by_name(field).as_deref() {
        Some(prost_reflect::Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

/// An id made of `label` (as lowercase letters, digits and hyphens, at most 40) and a digest of
/// the resource without its name: the same content gives the same id. Fits every service's id
/// rule (1 to 63 lowercase letters, digits and hyphens, starting with a letter).
pub fn content_id(label: &str, resource: &DynamicMessage) -> String {
    let mut unnamed = resource.clone();
    unnamed.clear_field_by_name("name");
    let digest = hex::encode(Sha256::digest(prost::Message::encode_to_vec(&unnamed)));
    let mut slug = String::new();
    for character in label.chars().flat_map(char::to_lowercase) {
        if let Some(plain) = unaccented(character) {
            slug.push_str(plain);
        } else if character.is_ascii_alphanumeric() {
            slug.push(character);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = slug.trim_start_matches(|character: char| !character.is_ascii_lowercase());
    if slug.is_empty() {
        format!("r-{}", &digest[..16])
    } else {
        format!("{slug}-{}", &digest[..12])
    }
}

/// The plain letters of an accented Latin one, so that `Coopérative` gives `cooperative`.
fn unaccented(character: char) -> Option<&'static str> {
    Some(match character {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        'æ' => "ae",
        'œ' => "oe",
        'ß' => "ss",
        _ => return None,
    })
}

/// A filter matching any of `names` (AIP-160 `name = "…" OR …`).
pub fn names_filter(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("name = \"{}\"", name.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The most names one existence check asks about.
pub const NAMES_PER_CHECK: usize = 100;

/// `names` in groups for existence checks: at most [`NAMES_PER_CHECK`] a group, and few enough
/// for their [`names_filter`] to fit a filter's length limit.
pub fn name_groups(names: &[String]) -> Vec<Vec<String>> {
    let budget = crate::filter::MAX_FILTER_CHARS;
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut length = 0;
    for name in names {
        let cost = name.chars().count() + " OR name = \"\"".len() + name.matches(['"', '\\']).count();
        let full = groups
            .last()
            .is_none_or(|group| group.len() >= NAMES_PER_CHECK || length + cost > budget);
        if full {
            groups.push(Vec::new());
            length = 0;
        }
        length += cost;
        if let Some(group) = groups.last_mut() {
            group.push(name.clone());
        }
    }
    groups
}

/// The items a BadRequest names, by `item_of` (which reads a field violation's path into the
/// item's position and the field within it), or the item a FAILED_PRECONDITION names in its
/// message (`requests[2].observation.initiative: initiatives/x does not exist`); any other
/// answer, or a violation no item owns, fails the call.
pub fn rejection(status: Status, item_of: impl Fn(&str) -> Option<(usize, String)>) -> Rejection {
    if status.code() == Code::FailedPrecondition {
        let named = status
            .message()
            .split_once(": ")
            .and_then(|(path, reason)| item_of(path).map(|(index, field)| (index, FieldError::new(field, reason))));
        return match named {
            Some(item) => Rejection::Items(vec![item]),
            None => Rejection::Failed(status),
        };
    }
    if status.code() != Code::InvalidArgument {
        return Rejection::Failed(status);
    }
    let Some(bad_request) = status.get_error_details().bad_request().cloned() else {
        return Rejection::Failed(status);
    };
    let mut items = Vec::new();
    for violation in &bad_request.field_violations {
        match item_of(&violation.field) {
            Some((index, field)) => items.push((index, FieldError::new(field, violation.description.clone()))),
            None => return Rejection::Failed(status),
        }
    }
    if items.is_empty() {
        return Rejection::Failed(status);
    }
    Rejection::Items(items)
}

/// The item and field of a batch's violation path: `requests[3].initiative.countries[1]` is
/// item 3's `countries[1]` (with `resource` = `initiative`); its other fields (the id, the
/// request_id) are the row's `name`.
pub fn batch_item(path: &str, resource: &str) -> Option<(usize, String)> {
    let rest = path.strip_prefix("requests[")?;
    let (index, rest) = rest.split_once(']')?;
    let index = index.parse().ok()?;
    let field = rest.strip_prefix('.').unwrap_or(rest);
    Some((index, single_item(field, resource)))
}

/// The field of a single create's violation path: `legal_text.title` is `title`.
pub fn single_item(path: &str, resource: &str) -> String {
    match path.strip_prefix(resource) {
        Some(rest) if rest.starts_with('.') => rest[1..].to_owned(),
        Some("") => "-".to_owned(),
        _ => "name".to_owned(),
    }
}

/// What an import found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read (lines of JSON Lines), the header aside.
    pub rows: u64,
    /// Resources created (in a dry run: that would be).
    pub created: u64,
    /// Rows whose resource already exists.
    pub unchanged: u64,
    /// Rows refused.
    pub invalid: u64,
    /// The first invalid row, when `--on-error stop` stopped the import there.
    pub stopped_at: Option<u64>,
}

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub format: Format,
    pub dry_run: bool,
    pub on_error: OnError,
}

/// Rows as read from a file, each with its row number (the line it starts on).
enum Records {
    Csv {
        reader: Box<csv::Reader<Box<dyn BufRead + Send>>>,
        read: ReadCsv,
        /// Set once the file cannot be read any further.
        broken: bool,
    },
    Jsonl {
        lines: Box<dyn BufRead + Send>,
        line: u64,
        message: MessageDescriptor,
    },
}

/// How a CSV row becomes a resource.
enum ReadCsv {
    Table(Layout, Vec<usize>),
    Sdmx(Vec<String>),
}

type Parsed = Result<DynamicMessage, Vec<FieldError>>;

impl Records {
    fn open(
        kind: &dyn TransferKind,
        format: Format,
        input: Box<dyn BufRead + Send>,
    ) -> Result<Records, Vec<FieldError>> {
        let message = descriptor(kind.message()).map_err(|error| vec![FieldError::new("-", error.to_string())])?;
        if format == Format::Jsonl {
            return Ok(Records::Jsonl {
                lines: input,
                line: 0,
                message,
            });
        }
        let mut reader = Box::new(
            csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(input),
        );
        let headers: Vec<String> = reader
            .headers()
            .map_err(|error| vec![FieldError::new("-", csv_reason(&error))])?
            .iter()
            .map(str::to_owned)
            .collect();
        let read = match format {
            Format::SdmxCsv => {
                if kind.sdmx_csv().is_none() {
                    return Err(vec![FieldError::new(
                        "-",
                        format!("{} have no SDMX-CSV form", kind.kind()),
                    )]);
                }
                ReadCsv::Sdmx(headers)
            }
            _ => {
                let layout = Layout::new(message);
                let positions = layout.read_headers(&headers)?;
                ReadCsv::Table(layout, positions)
            }
        };
        Ok(Records::Csv {
            reader,
            read,
            broken: false,
        })
    }

    fn next(&mut self, kind: &dyn TransferKind) -> Option<(u64, Parsed)> {
        match self {
            Records::Csv { reader, read, broken } => {
                if *broken {
                    return None;
                }
                let mut record = csv::StringRecord::new();
                let row = reader.position().line();
                match reader.read_record(&mut record) {
                    Ok(false) => None,
                    Ok(true) => {
                        let row = record.position().map_or(row, csv::Position::line);
                        let parsed = match read {
                            ReadCsv::Table(layout, positions) => layout.parse(positions, &record),
                            ReadCsv::Sdmx(headers) => match kind.sdmx_csv() {
                                Some(sdmx) => sdmx.parse(headers, &record),
                                None => Err(vec![FieldError::new("-", "no SDMX-CSV form")]),
                            },
                        };
                        Some((row, parsed))
                    }
                    Err(error) => {
                        let row = error.position().map_or(row, csv::Position::line);
                        // A file that cannot be read further ends here.
                        *broken = matches!(error.kind(), csv::ErrorKind::Io(_));
                        Some((row, Err(vec![FieldError::new("-", csv_reason(&error))])))
                    }
                }
            }
            Records::Jsonl { lines, line, message } => loop {
                let mut bytes = Vec::new();
                *line += 1;
                match lines.read_until(b'\n', &mut bytes) {
                    Ok(0) => return None,
                    Ok(_) => {
                        let Ok(text) = std::str::from_utf8(&bytes) else {
                            return Some((*line, Err(vec![FieldError::new("-", "is not UTF-8 text")])));
                        };
                        // A byte-order mark may open the file.
                        let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
                        if text.is_empty() {
                            continue;
                        }
                        let mut deserializer = serde_json::Deserializer::from_str(text);
                        let parsed = DynamicMessage::deserialize(message.clone(), &mut deserializer)
                            .and_then(|resource| deserializer.end().map(|()| resource))
                            .map_err(|error| vec![FieldError::new("-", error.to_string())]);
                        return Some((*line, parsed));
                    }
                    Err(error) => {
                        let row = *line;
                        *lines = Box::new(std::io::empty());
                        return Some((row, Err(vec![FieldError::new("-", format!("cannot be read: {error}"))])));
                    }
                }
            },
        }
    }
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("is not UTF-8 text (field {})", err.field() + 1),
        csv::ErrorKind::Io(error) => format!("cannot be read: {error}"),
        _ => error.to_string(),
    }
}

/// Retries a call the service refused for now (rate limited, unavailable) a few times, waiting
/// longer each time.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        match call().await {
            Err(status) if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            answer => return answer,
        }
    }
    call().await
}

async fn create_retrying(
    kind: &dyn TransferKind,
    api: &Api,
    resources: &[DynamicMessage],
    request_id: &str,
    validate_only: bool,
) -> Result<(), Rejection> {
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        match kind
            .create(api, resources.to_vec(), request_id.to_owned(), validate_only)
            .await
        {
            Err(Rejection::Failed(status)) if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            answer => return answer.map_err(|rejection| missing_parent(rejection, resources)),
        }
    }
    kind.create(api, resources.to_vec(), request_id.to_owned(), validate_only)
        .await
        .map_err(|rejection| missing_parent(rejection, resources))
}

/// A NOT_FOUND naming the parent of some of `resources` (an observation's indicator) refuses
/// those rows, not the whole import.
fn missing_parent(rejection: Rejection, resources: &[DynamicMessage]) -> Rejection {
    let Rejection::Failed(status) = &rejection else {
        return rejection;
    };
    let Some(missing) = crate::calls::missing_resource(status) else {
        return rejection;
    };
    let prefix = format!("{missing}/");
    let items: Vec<(usize, FieldError)> = resources
        .iter()
        .enumerate()
        .filter(|(_, resource)| name_of(resource).starts_with(&prefix))
        .map(|(index, _)| (index, FieldError::new("name", format!("{missing} does not exist"))))
        .collect();
    if items.is_empty() {
        rejection
    } else {
        Rejection::Items(items)
    }
}

/// One row on its way into a batch.
struct Row {
    number: u64,
    name: String,
    resource: DynamicMessage,
}

/// Imports `input` as `kind`, reporting each invalid row through `progress`.
pub async fn import(
    kind: &dyn TransferKind,
    api: &Api,
    input: Box<dyn BufRead + Send>,
    options: ImportOptions,
    progress: &Progress,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut records = match Records::open(kind, options.format, input) {
        Ok(records) => records,
        Err(errors) => {
            for error in &errors {
                progress.invalid(1, error);
            }
            report.invalid = 1;
            report.stopped_at = Some(1);
            return Ok(report);
        }
    };
    let batch_size = kind.batch_size().max(1);
    loop {
        // Read one batch of rows.
        let mut rows = Vec::with_capacity(batch_size);
        let mut invalid: Vec<(u64, FieldError)> = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        while rows.len() < batch_size {
            let Some((number, parsed)) = records.next(kind) else {
                break;
            };
            report.rows += 1;
            let resource = match parsed {
                Ok(resource) => resource,
                Err(errors) => {
                    invalid.extend(errors.into_iter().map(|error| (number, error)));
                    continue;
                }
            };
            let mut resource = resource;
            let mut name = name_of(&resource);
            if name.is_empty() || name.ends_with('/') {
                match kind.derived_name(&resource) {
                    Ok(derived) => {
                        name = derived;
                        resource.set_field_by_name("name", prost_reflect::Value::String(name.clone()));
                    }
                    Err(error) => {
                        invalid.push((number, error));
                        continue;
                    }
                }
            }
            if let Some(first) = seen.get(&name) {
                invalid.push((
                    number,
                    FieldError::new("name", format!("{name} is also on row {first}")),
                ));
                continue;
            }
            seen.insert(name.clone(), number);
            rows.push(Row { number, name, resource });
        }
        if rows.is_empty() && invalid.is_empty() {
            break;
        }
        // Rows whose resource exists are left alone.
        let names: Vec<String> = rows.iter().map(|row| row.name.clone()).collect();
        let mut existing = HashSet::new();
        for group in name_groups(&names) {
            let found = retrying(|| kind.existing(api, group.clone()))
                .await
                .map_err(|status| call_failed(kind, "look up", &status))?;
            existing.extend(found);
        }
        let (present, mut fresh): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|row| existing.contains(&row.name));
        // In a dry run the service checks the rest as it would create them (a real run's create
        // checks them just the same, all or nothing). A check that stops at the first missing
        // resource it needs is made again without the rows it refused, until the rest passes.
        while options.dry_run && !fresh.is_empty() {
            let resources: Vec<DynamicMessage> = fresh.iter().map(|row| row.resource.clone()).collect();
            match create_retrying(kind, api, &resources, "", true).await {
                Ok(()) => break,
                Err(Rejection::Items(items)) => {
                    let refused: HashSet<usize> = items.iter().map(|(index, _)| *index).collect();
                    for (index, error) in items {
                        if let Some(row) = fresh.get(index) {
                            invalid.push((row.number, error));
                        }
                    }
                    let before = fresh.len();
                    fresh = fresh
                        .into_iter()
                        .enumerate()
                        .filter(|(index, _)| !refused.contains(index))
                        .map(|(_, row)| row)
                        .collect();
                    if fresh.len() == before {
                        anyhow::bail!("the check of {} refused rows it was not sent", kind.kind());
                    }
                }
                Err(Rejection::Failed(status)) => return Err(call_failed(kind, "check", &status)),
            }
        }
        invalid.sort_by_key(|(number, _)| *number);
        let invalid_rows: std::collections::BTreeSet<u64> = invalid.iter().map(|(number, _)| *number).collect();
        for (number, error) in &invalid {
            progress.invalid(*number, error);
        }
        report.invalid += invalid_rows.len() as u64;
        report.unchanged += present.len() as u64;
        if !invalid_rows.is_empty() && options.on_error == OnError::Stop && !options.dry_run {
            report.stopped_at = invalid_rows.first().copied();
            progress.batch(kind.kind(), &report, options.dry_run);
            break;
        }
        if !options.dry_run && !fresh.is_empty() {
            let created = write_batch(kind, api, fresh, options.on_error, progress, &mut report).await?;
            report.created += created;
            if report.stopped_at.is_some() {
                progress.batch(kind.kind(), &report, options.dry_run);
                break;
            }
        } else {
            report.created += fresh.len() as u64;
        }
        progress.batch(kind.kind(), &report, options.dry_run);
    }
    Ok(report)
}

/// Creates the checked rows of one batch. What only a real create finds (a name taken since,
/// a resource that no longer exists) refuses those rows: the import stops there, or writes the
/// rest, as `on_error` says.
async fn write_batch(
    kind: &dyn TransferKind,
    api: &Api,
    mut rows: Vec<Row>,
    on_error: OnError,
    progress: &Progress,
    report: &mut ImportReport,
) -> anyhow::Result<u64> {
    while !rows.is_empty() {
        let resources: Vec<DynamicMessage> = rows.iter().map(|row| row.resource.clone()).collect();
        let request_id = batch_request_id(kind, &rows);
        match create_retrying(kind, api, &resources, &request_id, false).await {
            Ok(()) => return Ok(rows.len() as u64),
            Err(Rejection::Items(items)) => {
                let refused: HashSet<usize> = items.iter().map(|(index, _)| *index).collect();
                for (index, error) in &items {
                    if let Some(row) = rows.get(*index) {
                        progress.invalid(row.number, error);
                    }
                }
                report.invalid += refused.len() as u64;
                if on_error == OnError::Stop {
                    report.stopped_at = refused
                        .iter()
                        .filter_map(|index| rows.get(*index))
                        .map(|row| row.number)
                        .min();
                    return Ok(0);
                }
                rows = rows
                    .into_iter()
                    .enumerate()
                    .filter(|(index, _)| !refused.contains(index))
                    .map(|(_, row)| row)
                    .collect();
            }
            Err(Rejection::Failed(status)) if status.code() == Code::AlreadyExists => {
                // Created meanwhile by someone else: those rows are there now.
                let names: Vec<String> = rows.iter().map(|row| row.name.clone()).collect();
                let mut existing = HashSet::new();
                for group in name_groups(&names) {
                    existing.extend(
                        retrying(|| kind.existing(api, group.clone()))
                            .await
                            .map_err(|status| call_failed(kind, "look up", &status))?,
                    );
                }
                if existing.is_empty() {
                    return Err(call_failed(kind, "create", &status));
                }
                report.unchanged += existing.len() as u64;
                rows.retain(|row| !existing.contains(&row.name));
            }
            Err(Rejection::Failed(status)) => return Err(call_failed(kind, "create", &status)),
        }
    }
    Ok(0)
}

/// The same rows give the same request_id, so a retried batch is answered, not written twice.
fn batch_request_id(kind: &dyn TransferKind, rows: &[Row]) -> String {
    let mut digest = Sha256::new();
    digest.update(kind.kind().as_bytes());
    for row in rows {
        digest.update(b"\n");
        digest.update(prost::Message::encode_to_vec(&row.resource));
    }
    format!("import-{}", &hex::encode(digest.finalize())[..32])
}

fn call_failed(kind: &dyn TransferKind, what: &str, status: &Status) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot {what} {}: {:?}: {}",
        kind.kind(),
        status.code(),
        status.message()
    )
}

/// Writes every live resource of `kind` to `output` in `format`, a page at a time; returns how
/// many were written.
pub async fn export(
    kind: &dyn TransferKind,
    api: &Api,
    format: Format,
    output: &mut (dyn Write + Send),
    progress: &Progress,
) -> anyhow::Result<u64> {
    if format == Format::SdmxCsv {
        let Some(sdmx) = kind.sdmx_csv() else {
            anyhow::bail!("{} have no SDMX-CSV form; use --format csv or jsonl", kind.kind());
        };
        let bytes = sdmx.export(api, output).await?;
        output.flush()?;
        return Ok(bytes);
    }
    let message = descriptor(kind.message())?;
    let layout = Layout::new(message.clone());
    let csv = format == Format::Csv;
    if csv {
        let mut writer = csv::Writer::from_writer(&mut *output);
        writer.write_record(layout.headers())?;
        writer.flush()?;
    }
    let json_options = SerializeOptions::new();
    let mut json_lines = Vec::new();
    let mut written = 0;
    let mut page_token = String::new();
    loop {
        let (resources, next_page_token) = retrying(|| kind.list(api, page_token.clone()))
            .await
            .map_err(|status| call_failed(kind, "list", &status))?;
        // A page is written whole, then forgotten: memory stays that of one page.
        let mut chunk = Vec::new();
        {
            let mut rows = csv::Writer::from_writer(&mut chunk);
            for mut resource in resources {
                for field in OUTPUT_ONLY_FIELDS {
                    resource.clear_field_by_name(field);
                }
                if csv {
                    rows.write_record(layout.row(&resource))?;
                } else {
                    let mut serializer = serde_json::Serializer::new(&mut json_lines);
                    resource.serialize_with_options(&mut serializer, &json_options)?;
                    json_lines.push(b'\n');
                }
                written += 1;
            }
            rows.flush()?;
        }
        chunk.append(&mut json_lines);
        output.write_all(&chunk)?;
        progress.exported(written);
        if next_page_token.is_empty() {
            break;
        }
        page_token = next_page_token;
    }
    output.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_guessed_from_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("obs.sdmx.csv")), Some(Format::SdmxCsv));
        assert_eq!(Format::from_path(Path::new("x.jsonl")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("x.json")), None);
    }

    #[test]
    fn batch_violations_name_their_item_and_field() {
        assert_eq!(
            batch_item("requests[3].initiative.countries[1]", "initiative"),
            Some((3, "countries[1]".to_owned()))
        );
        assert_eq!(
            batch_item("requests[0].initiative_id", "initiative"),
            Some((0, "name".to_owned()))
        );
        assert_eq!(batch_item("request_id", "initiative"), None);
        assert_eq!(single_item("legal_text.title", "legal_text"), "title");
    }

    #[test]
    fn content_ids_fit_the_id_rule_and_follow_the_content() {
        let descriptor = descriptor("sse.initiatives.v1.Initiative").expect("initiative");
        let mut first = DynamicMessage::new(descriptor);
        first.set_field_by_name("display_name", prost_reflect::Value::String("Coop Café 2000!".into()));
        let id = content_id("Coop Café 2000!", &first);
        assert!(id.starts_with("coop-cafe-2000-"), "{id}");
        assert_eq!(id.len(), "coop-cafe-2000-".len() + 12);
        let mut named = first.clone();
        named.set_field_by_name("name", prost_reflect::Value::String("initiatives/x".into()));
        assert_eq!(content_id("Coop Café 2000!", &named), id);
        assert!(content_id("123", &first).starts_with("r-"));
    }

    #[test]
    fn name_groups_fit_the_filter_limit() {
        let names: Vec<String> = (0..1000)
            .map(|index| format!("indicators/green-jobs/observations/generated-{index:07}-0000000000"))
            .collect();
        let groups = name_groups(&names);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 1000);
        for group in &groups {
            assert!(names_filter(group).chars().count() <= crate::filter::MAX_FILTER_CHARS);
        }
        assert!(groups.len() < 30, "{}", groups.len());
    }

    #[test]
    fn names_filters_quote_their_names() {
        assert_eq!(
            names_filter(&["a/b".to_owned(), "a/\"c".to_owned()]),
            r#"name = "a/b" OR name = "a/\"c""#
        );
    }
}
