//! The `Initiative` resource: its name, its enum short names, and how it maps onto a stored row
//! (whole as JSON, plus the columns and facets that filters read).

use sea_orm::ActiveValue::Set;
use sse_platform::validate::quoted;
use sse_platform::{
    ServiceError, ServiceResult,
    filter::partial_date_column,
    names::{is_generated_id, is_valid_id, short_enum_name},
    time,
    validate::etag_of,
};
use sse_proto::initiatives::{Initiative, initiative::LegalForm, initiative::Status};

use crate::entity::initiative;

/// The collection part of every initiative's name.
pub const COLLECTION: &str = "initiatives";

pub fn name_of(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

/// The id in `initiatives/{id}`, or a violation naming `field`.
pub fn parse_name<'a>(name: &'a str, field: &str) -> ServiceResult<&'a str> {
    name.strip_prefix("initiatives/")
        .filter(|id| is_valid_id(id) || is_generated_id(id))
        .ok_or_else(|| {
            ServiceError::invalid_field(
                field,
                format!("{} is not an initiative name (initiatives/{{id}})", quoted(name)),
            )
        })
}

pub const LEGAL_FORM_PREFIX: &str = "LEGAL_FORM_";
pub const LEGAL_FORMS: &[&str] = &[
    "UNSPECIFIED",
    "COOPERATIVE",
    "MUTUAL",
    "ASSOCIATION",
    "FOUNDATION",
    "SOCIAL_ENTERPRISE",
    "PUBLIC_PROGRAMME",
    "NETWORK",
    "INFORMAL_GROUP",
    "OTHER",
];
pub const STATUS_PREFIX: &str = "STATUS_";
pub const STATUSES: &[&str] = &["UNSPECIFIED", "PLANNED", "ACTIVE", "ENDED"];

/// The row for an initiative whose name and times are set; fills in its etag.
pub fn to_row(resource: &mut Initiative, id: &str) -> ServiceResult<initiative::ActiveModel> {
    resource.etag = String::new();
    resource.etag = etag_of(resource)?;
    let json = serde_json::to_string(&resource).map_err(|error| ServiceError::Internal(error.into()))?;
    let micros = |timestamp: &Option<pbjson_types::Timestamp>| timestamp.as_ref().map(time::micros);
    Ok(initiative::ActiveModel {
        id: Set(id.to_owned()),
        display_name: Set(resource.display_name.clone()),
        description: Set(resource.description.clone()),
        legal_form: Set(short_enum_name(resource.legal_form().as_str_name(), LEGAL_FORM_PREFIX).to_owned()),
        status: Set(short_enum_name(resource.status().as_str_name(), STATUS_PREFIX).to_owned()),
        start_date: Set(partial_date_column(resource.start_date.as_ref())),
        create_time: Set(micros(&resource.create_time).unwrap_or_default()),
        update_time: Set(micros(&resource.update_time).unwrap_or_default()),
        delete_time: Set(micros(&resource.delete_time)),
        etag: Set(resource.etag.clone()),
        resource: Set(json),
    })
}

/// The fields a row keeps in columns of their own, exactly as in the stored resource (times
/// are written in microseconds, which is all the service gives them).
pub const COLUMN_FIELDS: &[&str] = &[
    "name",
    "display_name",
    "description",
    "legal_form",
    "status",
    "create_time",
    "update_time",
    "delete_time",
    "etag",
];

/// The initiative of `row` with its name and `fields` (each one of [`COLUMN_FIELDS`]) set, read
/// from the columns alone.
pub fn from_columns(row: &initiative::Model, fields: &[&str]) -> Initiative {
    let mut initiative = Initiative {
        name: name_of(&row.id),
        ..Initiative::default()
    };
    for field in fields {
        match *field {
            "display_name" => initiative.display_name.clone_from(&row.display_name),
            "description" => initiative.description.clone_from(&row.description),
            "legal_form" => {
                let legal_form = LegalForm::from_str_name(&format!("{LEGAL_FORM_PREFIX}{}", row.legal_form));
                initiative.set_legal_form(legal_form.unwrap_or_default());
            }
            "status" => {
                let status = Status::from_str_name(&format!("{STATUS_PREFIX}{}", row.status));
                initiative.set_status(status.unwrap_or_default());
            }
            "create_time" => initiative.create_time = Some(time::timestamp(row.create_time)),
            "update_time" => initiative.update_time = Some(time::timestamp(row.update_time)),
            "delete_time" => initiative.delete_time = row.delete_time.map(time::timestamp),
            "etag" => initiative.etag.clone_from(&row.etag),
            _ => {}
        }
    }
    initiative
}

/// `initiative` with only its name and `fields` set (AIP-157).
pub fn masked(initiative: &Initiative, fields: &[&str]) -> ServiceResult<Initiative> {
    sse_platform::read_mask::apply(
        initiative,
        sse_proto::contract::expect_message("sse.initiatives.v1.Initiative"),
        fields,
        "name",
    )
}

pub fn from_row(row: &initiative::Model) -> ServiceResult<Initiative> {
    from_stored(&row.id, &row.resource)
}

/// The initiative `id` from its stored JSON (the `resource` column).
pub fn from_stored(id: &str, stored: &str) -> ServiceResult<Initiative> {
    serde_json::from_str(stored).map_err(|error| {
        ServiceError::Internal(anyhow::Error::new(error).context(format!("stored initiative {id} is unreadable")))
    })
}

/// The (field, value) facets of each repeated field that filters reach.
pub fn facets(resource: &Initiative) -> Vec<(&'static str, String)> {
    let texts = [
        ("countries", &resource.countries),
        ("territories", &resource.territories),
        ("sdg_targets", &resource.sdg_targets),
        ("related_legal_texts", &resource.related_legal_texts),
    ];
    texts
        .into_iter()
        .flat_map(|(field, values)| values.iter().map(move |value| (field, value.clone())))
        .chain(resource.sdg_goals.iter().map(|goal| ("sdg_goals", goal.to_string())))
        .collect()
}

/// Only the enum values the contract defines; an unknown number is bad input.
pub fn is_known_legal_form(value: i32) -> bool {
    LegalForm::try_from(value).is_ok()
}

pub fn is_known_status(value: i32) -> bool {
    Status::try_from(value).is_ok()
}
