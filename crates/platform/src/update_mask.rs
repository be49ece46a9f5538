//! AIP-134 update masks: which fields an Update writes. Which fields may be written is the
//! contract's say (`google.api.field_behavior`), read through [`sse_proto::contract`].

use sse_proto::contract;

use crate::{
    ServiceResult,
    validate::{Violations, quoted},
};

/// The fields of `resource` to write: those named in `mask` (every writable one for `*`), or,
/// for an empty mask, those `is_set` in the request. A mask may name the identifier, the
/// output-only fields and the etag without effect (AIP-161): a client that sends back what it
/// read, or a gateway deriving the mask from a body, will name them. Any other path that is not
/// writable is bad input.
pub fn paths(
    mask: &[String],
    resource: &contract::Message,
    is_set: impl Fn(&str) -> bool,
) -> ServiceResult<Vec<&'static str>> {
    paths_among(mask, resource.writable(), resource.ignored_in_mask(), is_set)
}

fn paths_among(
    mask: &[String],
    writable: &[&'static str],
    ignored: &[&str],
    is_set: impl Fn(&str) -> bool,
) -> ServiceResult<Vec<&'static str>> {
    if mask.is_empty() {
        return Ok(writable.iter().copied().filter(|field| is_set(field)).collect());
    }
    if mask.iter().any(|path| path == "*") {
        return Ok(writable.to_vec());
    }
    let mut violations = Violations::default();
    let mut paths = Vec::new();
    for (index, path) in mask.iter().enumerate() {
        if ignored.contains(&path.as_str()) {
            continue;
        }
        match writable.iter().find(|field| **field == path) {
            Some(field) => paths.push(*field),
            None => violations.add(
                format!("update_mask.paths[{index}]"),
                format!(
                    "{} is not a field that can be updated; fields: {}",
                    quoted(path),
                    writable.join(", ")
                ),
            ),
        }
    }
    violations.into_result()?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::{paths, paths_among};
    use sse_proto::contract;

    const WRITABLE: &[&str] = &["display_name", "countries"];
    const IGNORED: &[&str] = &["name", "etag"];

    #[test]
    fn the_contract_says_which_fields_are_writable() {
        let initiative = contract::expect_message("sse.initiatives.v1.Initiative");
        assert_eq!(
            paths(&["create_time".to_owned(), "website".to_owned()], initiative, |_| false).ok(),
            Some(vec!["website"])
        );
        assert!(paths(&["colour".to_owned()], initiative, |_| false).is_err());
    }

    #[test]
    fn a_mask_names_fields_a_star_names_all_and_none_means_those_set() {
        assert_eq!(
            paths_among(&["countries".to_owned()], WRITABLE, IGNORED, |_| false).ok(),
            Some(vec!["countries"])
        );
        assert_eq!(
            paths_among(&["*".to_owned()], WRITABLE, IGNORED, |_| false).ok(),
            Some(WRITABLE.to_vec())
        );
        assert_eq!(
            paths_among(&[], WRITABLE, IGNORED, |field| field == "display_name").ok(),
            Some(vec!["display_name"])
        );
        assert!(paths_among(&["colour".to_owned()], WRITABLE, IGNORED, |_| false).is_err());
        assert_eq!(
            paths_among(
                &["name".to_owned(), "etag".to_owned(), "countries".to_owned()],
                WRITABLE,
                IGNORED,
                |_| false
            )
            .ok(),
            Some(vec!["countries"])
        );
    }
}
