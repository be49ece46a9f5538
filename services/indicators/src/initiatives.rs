//! What the indicators service asks the initiatives service: whether the initiatives that
//! observations name exist, and their legal form and SDG goals for aggregation. Names are looked
//! up through BatchGetInitiatives, up to 1000 a call, never one call per observation; each call
//! carries a deadline, the trace context and the caller's credentials.

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use pbjson_types::FieldMask;
use sse_platform::{
    ServiceError, ServiceResult,
    calls::{self, CallContext, DEFAULT_DEADLINE, MAX_MESSAGE_BYTES, dependency_error},
    names::short_enum_name,
    tls::ClientTls,
};
use sse_proto::initiatives::{BatchGetInitiativesRequest, initiative_service_client::InitiativeServiceClient};
use tonic::{Code, Status, transport::Channel};

/// How many names one BatchGetInitiatives call carries (the service's limit).
pub const NAMES_PER_CALL: usize = 1000;

/// How many lookup calls of one request are in flight at once: enough to overlap the round
/// trips, few enough to leave the initiatives service's connections to other callers.
const CONCURRENT_CALLS: usize = 2;

/// What aggregation needs to know of an initiative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiativeFacts {
    /// The legal form's short name, e.g. `COOPERATIVE` (static: an aggregation may hold the
    /// facts of every initiative).
    pub legal_form: &'static str,
    pub sdg_goals: Goals,
    pub deleted: bool,
}

/// An initiative's SDG goals, as a set of bits rather than a list: an aggregation may hold the
/// facts of every initiative. Goals are 1 to 17 (the initiatives service refuses others).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Goals(u32);

impl Goals {
    /// The goals, smallest first.
    pub fn iter(self) -> impl Iterator<Item = i32> {
        (0..32).filter(move |goal| self.0 & (1 << goal) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<i32> for Goals {
    fn from_iter<I: IntoIterator<Item = i32>>(goals: I) -> Self {
        Goals(
            goals
                .into_iter()
                .filter_map(|goal| u32::try_from(goal).ok().and_then(|goal| 1u32.checked_shl(goal)))
                .fold(0, |set, bit| set | bit),
        )
    }
}

#[derive(Clone)]
pub struct Initiatives {
    client: InitiativeServiceClient<Channel>,
}

/// What one lookup found: the facts of the initiatives that exist, and the names that do not.
#[derive(Debug, Default)]
pub struct Lookup {
    pub facts: HashMap<String, InitiativeFacts>,
    pub missing: HashSet<String>,
}

impl Lookup {
    fn merge(&mut self, other: Lookup) {
        self.facts.extend(other.facts);
        self.missing.extend(other.missing);
    }
}

impl Initiatives {
    /// A client for the initiatives service at `url` (over TLS as `tls` says when it is
    /// `https://`). It connects on first use, so the services of one process may start in any
    /// order.
    pub fn connect_lazy(url: &str, tls: &ClientTls) -> anyhow::Result<Initiatives> {
        let channel = sse_platform::calls::lazy_channel(url, tls)?;
        Ok(Initiatives {
            client: InitiativeServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }

    /// The facts of each of `names` that exists (deleted ones included, marked as such); their
    /// SDG goals only when `with_goals` (else empty): without them, the initiatives service
    /// answers from its columns, without reading each stored initiative.
    pub async fn facts(
        &self,
        context: &CallContext,
        names: Vec<String>,
        with_goals: bool,
    ) -> ServiceResult<HashMap<String, InitiativeFacts>> {
        let fields = if with_goals {
            &["legal_form", "sdg_goals", "delete_time"][..]
        } else {
            &["legal_form", "delete_time"][..]
        };
        Ok(self.look_up(context, names, false, fields).await?.facts)
    }

    /// Looks `names` up, up to [`NAMES_PER_CALL`] a call and up to [`CONCURRENT_CALLS`] calls in
    /// flight (a batch of 5,000 observations names about as many initiatives: one call at a
    /// time took 60 ms of its 400). A name the initiatives service does not know is set aside and
    /// the rest asked again, unless `stop_at_missing`: then the lookup ends with the first call
    /// that finds one (the caller refuses the request anyway).
    /// Only `fields` of the facts are asked for (a read mask); the others keep their defaults.
    async fn look_up(
        &self,
        context: &CallContext,
        mut names: Vec<String>,
        stop_at_missing: bool,
        fields: &[&str],
    ) -> ServiceResult<Lookup> {
        names.retain(|name| !name.is_empty());
        names.sort_unstable();
        names.dedup();
        let mut lookup = Lookup {
            // Sized once: an aggregation may look up every initiative.
            facts: HashMap::with_capacity(names.len()),
            missing: HashSet::new(),
        };
        // Owned chunks, moved into the calls (the calls are futures that must not borrow).
        let mut chunks: Vec<Vec<String>> = Vec::with_capacity(names.len().div_ceil(NAMES_PER_CALL));
        let mut names = names.into_iter();
        loop {
            let chunk: Vec<String> = names.by_ref().take(NAMES_PER_CALL).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        let mut calls = futures_util::stream::iter(chunks)
            .map(|chunk| self.look_up_chunk(context, chunk, stop_at_missing, fields))
            .buffer_unordered(CONCURRENT_CALLS);
        while let Some(found) = calls.next().await {
            let found = found?;
            let stop = stop_at_missing && !found.missing.is_empty();
            lookup.merge(found);
            if stop {
                break;
            }
        }
        Ok(lookup)
    }

    /// Looks up one call's worth of names.
    async fn look_up_chunk(
        &self,
        context: &CallContext,
        mut wanted: Vec<String>,
        stop_at_missing: bool,
        fields: &[&str],
    ) -> ServiceResult<Lookup> {
        let mut lookup = Lookup::default();
        let read_mask = FieldMask {
            paths: fields.iter().map(|field| (*field).to_owned()).collect(),
        };
        while !wanted.is_empty() {
            let request = BatchGetInitiativesRequest {
                names: wanted.clone(),
                read_mask: Some(read_mask.clone()),
            };
            let mut client = self.client.clone();
            match client
                .batch_get_initiatives(context.outgoing(request, DEFAULT_DEADLINE))
                .await
            {
                Ok(response) => {
                    for initiative in response.into_inner().initiatives {
                        let legal_form = short_enum_name(initiative.legal_form().as_str_name(), "LEGAL_FORM_");
                        lookup.facts.insert(
                            initiative.name,
                            InitiativeFacts {
                                legal_form,
                                sdg_goals: initiative.sdg_goals.into_iter().collect(),
                                deleted: initiative.delete_time.is_some(),
                            },
                        );
                    }
                    break;
                }
                Err(status) => {
                    let Some(missing) = missing_name(&status, &wanted) else {
                        return Err(dependency_error("initiatives", status));
                    };
                    wanted.retain(|name| *name != missing);
                    lookup.missing.insert(missing);
                    if stop_at_missing {
                        break;
                    }
                }
            }
        }
        Ok(lookup)
    }

    /// Checks that every one of `names` (each with the request field to blame) exists and is not
    /// deleted.
    pub async fn require_live(&self, context: &CallContext, names: &[(String, String)]) -> ServiceResult<()> {
        if names.is_empty() {
            return Ok(());
        }
        let wanted: Vec<String> = names.iter().map(|(name, _)| name.clone()).collect();
        let lookup = self.look_up(context, wanted, true, &["delete_time"]).await?;
        for (name, field) in names {
            let problem = match lookup.facts.get(name) {
                _ if lookup.missing.contains(name) => "does not exist",
                Some(facts) if facts.deleted => "is deleted",
                Some(_) => continue,
                // Not asked: the lookup stopped at an earlier missing name, blamed below.
                None => continue,
            };
            return Err(initiative_not_found(field, name, problem));
        }
        // The lookup stopped at a missing name that a later field of the request names.
        if let Some((name, field)) = names.iter().find(|(name, _)| lookup.missing.contains(name)) {
            return Err(initiative_not_found(field, name, "does not exist"));
        }
        Ok(())
    }
}

fn initiative_not_found(field: &str, name: &str, problem: &str) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "INITIATIVE_NOT_FOUND",
        message: format!("{field}: {name} {problem} in the initiatives service"),
    }
}

/// Which of `asked` a NOT_FOUND answer of BatchGetInitiatives names (its ErrorInfo's
/// `resource`, else the first asked name its message mentions); `None` for any other answer.
fn missing_name(status: &Status, asked: &[String]) -> Option<String> {
    if status.code() != Code::NotFound {
        return None;
    }
    calls::missing_resource(status)
        .filter(|name| asked.contains(name))
        .or_else(|| {
            let message = status.message();
            asked
                .iter()
                .filter(|name| message.contains(name.as_str()))
                // The longest match, so `initiatives/a` does not win over `initiatives/ab`.
                .max_by_key(|name| name.len())
                .cloned()
        })
}

#[cfg(test)]
mod tests {
    use super::Goals;

    #[test]
    fn goals_are_a_set_read_back_smallest_first() {
        let goals: Goals = [17, 8, 1, 8].into_iter().collect();
        assert_eq!(goals.iter().collect::<Vec<_>>(), vec![1, 8, 17]);
        assert!(!goals.is_empty());
        assert!(Goals::default().is_empty());
    }
}
