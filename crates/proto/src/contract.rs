//! What the contracts say about their fields, read once from the descriptor set: each field's
//! `google.api.field_behavior` (AIP-203) and `sse.type.v1.field_limits`. Validation, update
//! masks and the OpenAPI document all read these, so none of them can disagree with the
//! contract. Computed on first use and kept; no request pays for the reading.

use std::{collections::HashMap, sync::OnceLock};

use prost_reflect::{DescriptorPool, MessageDescriptor, Value};

pub use crate::google::api::FieldBehavior;
use crate::types::FieldLimits;

/// One field of a message, as the contract describes it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub behaviors: Vec<FieldBehavior>,
    pub limits: Option<FieldLimits>,
}

impl Field {
    pub fn is(&self, behavior: FieldBehavior) -> bool {
        self.behaviors.contains(&behavior)
    }

    /// Whether a request may set the field: not the server's own (output only), not the
    /// resource's name (identifier), and not fixed at creation (immutable).
    pub fn is_writable(&self) -> bool {
        !(self.is(FieldBehavior::OutputOnly) || self.is(FieldBehavior::Identifier) || self.is(FieldBehavior::Immutable))
    }
}

/// The fields of one message, in declaration order.
#[derive(Debug, Clone)]
pub struct Message {
    pub full_name: &'static str,
    pub fields: Vec<Field>,
    writable: Vec<&'static str>,
    ignored_in_mask: Vec<&'static str>,
}

impl Message {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The fields a request must set (REQUIRED).
    pub fn required(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields
            .iter()
            .filter(|field| field.is(FieldBehavior::Required))
            .map(|field| field.name)
    }

    /// The fields an update may change (AIP-134): every field that is neither output only,
    /// nor the identifier, nor immutable; and not the `etag`, which is a condition of the
    /// update (AIP-154), not data.
    pub fn writable(&self) -> &[&'static str] {
        &self.writable
    }

    /// The fields an update mask may name without effect (AIP-161): the identifier and the
    /// output-only fields, which a client sending back what it read will name, and the etag.
    pub fn ignored_in_mask(&self) -> &[&'static str] {
        &self.ignored_in_mask
    }
}

struct Contracts {
    pool: DescriptorPool,
    messages: HashMap<&'static str, Message>,
}

fn contracts() -> &'static Contracts {
    static CONTRACTS: OnceLock<Contracts> = OnceLock::new();
    CONTRACTS.get_or_init(|| {
        // The set is built into this crate by its build script: failing to read it is a bug of
        // the build, found by the first test that runs.
        let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).expect("the built-in descriptor set decodes");
        let messages = pool
            .all_messages()
            .map(|message| {
                let read = read_message(&pool, &message);
                (read.full_name, read)
            })
            .collect();
        Contracts { pool, messages }
    })
}

/// The descriptor pool of every contract, decoded once.
pub fn pool() -> &'static DescriptorPool {
    &contracts().pool
}

/// What the contract says about the message `full_name` (`sse.initiatives.v1.Initiative`).
pub fn message(full_name: &str) -> Option<&'static Message> {
    contracts().messages.get(full_name)
}

/// Like [`message`], for a message the calling code knows exists; an unknown name is a bug.
pub fn expect_message(full_name: &str) -> &'static Message {
    message(full_name).unwrap_or_else(|| panic!("{full_name} is not a message of the contracts"))
}

fn leak(text: &str) -> &'static str {
    // Once per field of the contracts, for the life of the process.
    Box::leak(text.to_owned().into_boxed_str())
}

fn read_message(pool: &DescriptorPool, message: &MessageDescriptor) -> Message {
    let behavior_extension = pool.get_extension_by_name("google.api.field_behavior");
    let limits_extension = pool.get_extension_by_name("sse.type.v1.field_limits");
    let mut fields = Vec::new();
    for field in message.fields() {
        let options = field.options();
        let mut behaviors = Vec::new();
        if let Some(extension) = &behavior_extension
            && options.has_extension(extension)
            && let Value::List(values) = options.get_extension(extension).as_ref()
        {
            for value in values {
                if let Some(number) = value.as_enum_number()
                    && let Ok(behavior) = FieldBehavior::try_from(number)
                {
                    behaviors.push(behavior);
                }
            }
        }
        let limits = limits_extension
            .as_ref()
            .filter(|extension| options.has_extension(extension))
            .and_then(|extension| match options.get_extension(extension).as_ref() {
                Value::Message(limits) => limits.transcode_to::<FieldLimits>().ok(),
                _ => None,
            });
        fields.push(Field {
            name: leak(field.name()),
            behaviors,
            limits,
        });
    }
    let writable = fields
        .iter()
        .filter(|field| field.is_writable() && field.name != "etag")
        .map(|field| field.name)
        .collect();
    let ignored_in_mask = fields
        .iter()
        .filter(|field| !field.is_writable() || field.name == "etag")
        .map(|field| field.name)
        .collect();
    Message {
        full_name: leak(message.full_name()),
        fields,
        writable,
        ignored_in_mask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AIP-203: every field of every contract of ours says how the server treats it.
    #[test]
    fn every_field_of_every_contract_has_a_behavior() {
        let mut missing = Vec::new();
        for message in pool().all_messages() {
            // The messages of option declarations (FieldLimits) describe the contracts, not the API.
            let declares_options = message.parent_file().extensions().next().is_some();
            if !message.full_name().starts_with("sse.") || declares_options {
                continue;
            }
            for field in message.fields() {
                let described = expect_message(message.full_name());
                if described
                    .field(field.name())
                    .is_none_or(|field| field.behaviors.is_empty())
                {
                    missing.push(field.full_name().to_owned());
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fields without google.api.field_behavior: {missing:?}"
        );
    }

    #[test]
    fn writable_fields_leave_out_names_times_and_etags() {
        let initiative = expect_message("sse.initiatives.v1.Initiative");
        assert!(initiative.writable().contains(&"display_name"));
        for field in ["name", "create_time", "update_time", "delete_time", "etag"] {
            assert!(!initiative.writable().contains(&field), "{field}");
            assert!(initiative.ignored_in_mask().contains(&field), "{field}");
        }
        assert_eq!(initiative.required().collect::<Vec<_>>(), ["display_name"]);
        let limits = initiative.field("display_name").and_then(|field| field.limits.clone());
        assert_eq!(limits.map(|limits| limits.max_length), Some(200));
    }
}
