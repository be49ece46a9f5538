//! AIP-134 update masks: which fields an Update writes.

use crate::{
    ServiceResult,
    validate::{Violations, quoted},
};

/// Fields a mask may name without effect (AIP-161): the name and output-only fields, which a
/// client that sends back what it read, or a gateway deriving the mask from a body, will name.
const IGNORED: &[&str] = &["name", "etag", "create_time", "update_time", "delete_time"];

/// The fields to write: those named in `mask` (all of `writable` for `*`), or, for an empty
/// mask, those `is_set` in the request. A path that is not writable is bad input.
pub fn paths(
    mask: &[String],
    writable: &[&'static str],
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
        if IGNORED.contains(&path.as_str()) {
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
    use super::paths;

    const WRITABLE: &[&str] = &["display_name", "countries"];

    #[test]
    fn a_mask_names_fields_a_star_names_all_and_none_means_those_set() {
        assert_eq!(
            paths(&["countries".to_owned()], WRITABLE, |_| false).ok(),
            Some(vec!["countries"])
        );
        assert_eq!(
            paths(&["*".to_owned()], WRITABLE, |_| false).ok(),
            Some(WRITABLE.to_vec())
        );
        assert_eq!(
            paths(&[], WRITABLE, |field| field == "display_name").ok(),
            Some(vec!["display_name"])
        );
        assert!(paths(&["colour".to_owned()], WRITABLE, |_| false).is_err());
        assert_eq!(
            paths(
                &["name".to_owned(), "etag".to_owned(), "countries".to_owned()],
                WRITABLE,
                |_| false
            )
            .ok(),
            Some(vec!["countries"])
        );
    }
}
