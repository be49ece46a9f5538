//! AIP-157 read masks: which fields of a resource a Get returns. Which fields there are is the
//! contract's say, read through [`sse_proto::contract`].

use prost_reflect::DynamicMessage;
use sse_proto::contract;

use crate::{
    ServiceError, ServiceResult,
    validate::{Violations, quoted},
};

/// The fields `mask` asks for, each a field of `resource`; `None` (every field) for an empty
/// mask or `*`. Anything else is bad input, named at `read_mask.paths[i]`.
pub fn fields(mask: &[String], resource: &contract::Message) -> ServiceResult<Option<Vec<&'static str>>> {
    if mask.is_empty() || mask.iter().any(|path| path == "*") {
        return Ok(None);
    }
    let mut violations = Violations::default();
    let mut fields = Vec::with_capacity(mask.len());
    for (index, path) in mask.iter().enumerate() {
        match resource.field(path) {
            Some(field) => fields.push(field.name),
            None => {
                let known: Vec<&str> = resource.fields.iter().map(|field| field.name).collect();
                violations.add(
                    format!("read_mask.paths[{index}]"),
                    format!("{} is not a field; fields: {}", quoted(path), known.join(", ")),
                );
            }
        }
    }
    violations.into_result()?;
    Ok(Some(fields))
}

/// `message` (of `resource`) with only `fields` and `keep` (e.g. the name) set.
pub fn apply<M>(message: &M, resource: &contract::Message, fields: &[&str], keep: &str) -> ServiceResult<M>
where
    M: prost::Message + Default,
{
    let descriptor = contract::pool()
        .get_message_by_name(resource.full_name)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("{} is not in the contract", resource.full_name)))?;
    let mut dynamic = DynamicMessage::new(descriptor);
    dynamic
        .transcode_from(message)
        .map_err(|error| ServiceError::Internal(anyhow::Error::new(error)))?;
    let cleared: Vec<_> = dynamic
        .fields()
        .filter(|(field, _)| field.name() != keep && !fields.contains(&field.name()))
        .map(|(field, _)| field)
        .collect();
    for field in cleared {
        dynamic.clear_field(&field);
    }
    dynamic
        .transcode_to()
        .map_err(|error| ServiceError::Internal(anyhow::Error::new(error)))
}
