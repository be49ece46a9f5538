//! HTTP path templates as `google.api.http` writes them: `/v1/{name=indicators/*/observations/*}`,
//! `/v1/{parent=indicators/*}/observations`, `/v1/{name=initiatives/*}:undelete`. A template
//! matches a request path and says which request fields the path sets.

/// One segment of a template, and the variable it belongs to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: any one segment.
    Any,
    /// `**`: the rest of the path.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<(Segment, Option<usize>)>,
    /// The request fields the variables set, e.g. `initiative.name`, in order.
    pub variables: Vec<String>,
    /// The custom verb after `:`, e.g. `undelete`.
    pub verb: Option<String>,
}

impl PathTemplate {
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        let path = text
            .strip_prefix('/')
            .ok_or_else(|| format!("`{text}` does not start with /"))?;
        let (path, verb) = match path.rfind(':') {
            Some(colon) if colon > path.rfind('}').unwrap_or(0) && colon > path.rfind('/').unwrap_or(0) => {
                (&path[..colon], Some(path[colon + 1..].to_owned()))
            }
            _ => (path, None),
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut rest = path;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let close = inner
                    .find('}')
                    .ok_or_else(|| format!("`{text}` has an unclosed variable"))?;
                let (field, pattern) = match inner[..close].split_once('=') {
                    Some((field, pattern)) => (field, pattern),
                    None => (&inner[..close], "*"),
                };
                variables.push(field.to_owned());
                for part in pattern.split('/') {
                    segments.push((segment(part), Some(variables.len() - 1)));
                }
                rest = inner[close + 1..].trim_start_matches('/');
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                segments.push((segment(&rest[..end]), None));
                rest = rest[end..].trim_start_matches('/');
            }
        }
        Ok(PathTemplate {
            text: text.to_owned(),
            segments,
            variables,
            verb,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many literal segments it has: more literals make a more specific template.
    pub fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|(segment, _)| matches!(segment, Segment::Literal(_)))
            .count()
    }

    /// The value of each variable when `path` matches, in `variables` order.
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let path = path.strip_prefix('/')?;
        let path = match &self.verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let mut values: Vec<Vec<String>> = vec![Vec::new(); self.variables.len()];
        let mut position = 0;
        for (segment, variable) in &self.segments {
            let taken: Vec<&str> = match segment {
                Segment::Literal(literal) => {
                    let part = parts.get(position)?;
                    if part != literal {
                        return None;
                    }
                    vec![part]
                }
                Segment::Any => {
                    let part = parts
                        .get(position)
                        .filter(|part| !part.is_empty() && (self.verb.is_some() || !part.contains(':')))?;
                    vec![part]
                }
                Segment::Rest => parts.get(position..)?.to_vec(),
            };
            position += taken.len();
            if let Some(variable) = variable {
                values[*variable].extend(taken.iter().map(|part| percent_decode(part)));
            }
        }
        if position != parts.len() {
            return None;
        }
        Some(values.into_iter().map(|parts| parts.join("/")).collect())
    }

    /// The template as an OpenAPI path, with one parameter per wildcard named after the
    /// collection before it: `/v1/{name=indicators/*/observations/*}` becomes
    /// `/v1/indicators/{indicator}/observations/{observation}`. Returns the path and, for each
    /// parameter, its name and the request field it is part of.
    pub fn openapi_path(&self) -> (String, Vec<(String, String)>) {
        let mut path = String::new();
        let mut parameters: Vec<(String, String)> = Vec::new();
        let mut previous_literal: Option<&str> = None;
        for (segment, variable) in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    path.push('/');
                    path.push_str(literal);
                    previous_literal = Some(literal);
                }
                Segment::Any | Segment::Rest => {
                    let field = variable.map_or_else(String::new, |index| self.variables[index].clone());
                    let base = match (previous_literal, variable) {
                        (Some(literal), _) => literal.strip_suffix('s').unwrap_or(literal).to_owned(),
                        (None, Some(_)) => field.replace('.', "_"),
                        (None, None) => "segment".to_owned(),
                    };
                    let mut name = base.clone();
                    let mut counter = 1;
                    while parameters.iter().any(|(taken, _)| *taken == name) {
                        counter += 1;
                        name = format!("{base}{counter}");
                    }
                    path.push_str(&format!("/{{{name}}}"));
                    parameters.push((name, field));
                    previous_literal = None;
                }
            }
        }
        if let Some(verb) = &self.verb {
            path.push(':');
            path.push_str(verb);
        }
        (path, parameters)
    }

    /// The pattern a variable's value follows, e.g. `indicators/*/observations/*`.
    pub fn variable_pattern(&self, index: usize) -> String {
        self.segments
            .iter()
            .filter(|(_, variable)| *variable == Some(index))
            .map(|(segment, _)| match segment {
                Segment::Literal(literal) => literal.as_str(),
                Segment::Any => "*",
                Segment::Rest => "**",
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn segment(text: &str) -> Segment {
    match text {
        "*" => Segment::Any,
        "**" => Segment::Rest,
        literal => Segment::Literal(literal.to_owned()),
    }
}

/// `%2F` and friends back to their characters; malformed escapes are kept as written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> PathTemplate {
        PathTemplate::parse(text).expect(text)
    }

    #[test]
    fn variables_take_the_segments_of_their_pattern() {
        let get = template("/v1/{name=indicators/*/observations/*}");
        assert_eq!(get.variables, ["name"]);
        assert_eq!(
            get.matches("/v1/indicators/jobs/observations/a1"),
            Some(vec!["indicators/jobs/observations/a1".to_owned()])
        );
        assert_eq!(get.matches("/v1/indicators/jobs"), None);
        assert_eq!(get.matches("/v1/initiatives/jobs/observations/a1"), None);
        let list = template("/v1/{parent=indicators/*}/observations");
        assert_eq!(
            list.matches("/v1/indicators/-/observations"),
            Some(vec!["indicators/-".to_owned()])
        );
        assert_eq!(
            list.openapi_path(),
            (
                "/v1/indicators/{indicator}/observations".to_owned(),
                vec![("indicator".to_owned(), "parent".to_owned())]
            )
        );
        assert_eq!(
            get.openapi_path().0,
            "/v1/indicators/{indicator}/observations/{observation}"
        );
        assert_eq!(list.variable_pattern(0), "indicators/*");
    }

    #[test]
    fn a_custom_verb_must_be_there_and_a_plain_template_refuses_one() {
        let undelete = template("/v1/{name=initiatives/*}:undelete");
        assert_eq!(undelete.verb.as_deref(), Some("undelete"));
        assert_eq!(
            undelete.matches("/v1/initiatives/tzcld:undelete"),
            Some(vec!["initiatives/tzcld".to_owned()])
        );
        assert_eq!(undelete.matches("/v1/initiatives/tzcld"), None);
        let get = template("/v1/{name=initiatives/*}");
        assert_eq!(get.matches("/v1/initiatives/tzcld:undelete"), None);
        let search = template("/v1/legalTexts:search");
        assert_eq!(search.matches("/v1/legalTexts:search"), Some(vec![]));
        assert_eq!(search.openapi_path().0, "/v1/legalTexts:search");
        assert_eq!(undelete.openapi_path().0, "/v1/initiatives/{initiative}:undelete");
    }

    #[test]
    fn path_values_are_percent_decoded() {
        assert_eq!(percent_decode("caf%C3%A9%2Fx"), "café/x");
        assert_eq!(percent_decode("100%"), "100%");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Templates as `google.api.http` writes them, and the segment values that fill them.
        fn template_and_path() -> impl Strategy<Value = (String, String, Vec<String>)> {
            let literal = "[a-zA-Z][a-zA-Z0-9]{0,6}";
            let value = "[a-zA-Z0-9._~-]{1,8}";
            (
                prop::collection::vec((literal, any::<bool>(), value), 1..5),
                prop::option::of("[a-z]{1,6}"),
            )
                .prop_map(|(parts, verb)| {
                    let mut template = String::from("/v1");
                    let mut path = String::from("/v1");
                    let mut values = Vec::new();
                    for (index, (collection, variable, value)) in parts.into_iter().enumerate() {
                        if variable {
                            template.push_str(&format!("/{{field{index}={collection}/*}}"));
                            values.push(format!("{collection}/{value}"));
                        } else {
                            template.push_str(&format!("/{collection}"));
                        }
                        path.push_str(&format!("/{collection}"));
                        if variable {
                            path.push_str(&format!("/{value}"));
                        }
                    }
                    if let Some(verb) = verb {
                        template.push_str(&format!(":{verb}"));
                        path.push_str(&format!(":{verb}"));
                    }
                    (template, path, values)
                })
        }

        proptest! {
                #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

                #[test]
                fn any_template_text_parses_or_is_refused(text in "\\PC{0,40}|[/{}=*:a-z]{0,40}") {
                    if let Ok(template) = PathTemplate::parse(&text) {
                        let _ = template.openapi_path();
                        let _ = template.literal_count();
                        for index in 0..template.variables.len() {
                            let _ = template.variable_pattern(index);
                        }
                    }
                }

                #[test]
                fn any_request_path_matches_or_not_without_panicking(path in "\\PC{0,60}|[/%a-zA-Z0-9:.*-]{0,60}") {
                    for text in [
                        "/v1/{name=indicators/*/observations/*}",
                        "/v1/{parent=indicators/*}/observations",
                        "/v1/{name=initiatives/*}:undelete",
                        "/v1/legalTexts:search",
                        "/v1/{name=files/**}",
                    ] {
                        let template = PathTemplate::parse(text).expect("a valid template");
                        if let Some(values) = template.matches(&path) {
                            prop_assert_eq!(values.len(), template.variables.len());
                        }
                    }
                    let _ = percent_decode(&path);
                }

                #[test]
                fn a_path_made_from_a_template_matches_it_with_its_values((text, path, values) in template_and_path()) {
                    let template = PathTemplate::parse(&text).expect("a generated template");
                    prop_assert_eq!(template.matches(&path), Some(values));
                }
            }
    }
}
