//! The REST routes, read from the `google.api.http` option of every RPC in the contracts'
//! descriptor set: the same table serves requests and writes the OpenAPI document, so the two
//! cannot disagree.

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use super::template::PathTemplate;

/// One REST binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    pub http_method: http::Method,
    pub template: PathTemplate,
    pub method: MethodDescriptor,
    /// The request field the HTTP body fills: a field name, `*` for the whole request, or empty.
    pub body: String,
    /// The response field the HTTP response holds; empty for the whole response.
    pub response_body: String,
}

impl Route {
    /// `sse.initiatives.v1.InitiativeService`.
    pub fn service_name(&self) -> String {
        self.method.parent_service().full_name().to_owned()
    }

    /// The gRPC path, `/sse.initiatives.v1.InitiativeService/GetInitiative`.
    pub fn grpc_path(&self) -> String {
        format!("/{}/{}", self.method.parent_service().full_name(), self.method.name())
    }
}

/// Every route of every service in `pool`, most specific first.
pub fn routes(pool: &DescriptorPool) -> anyhow::Result<Vec<Route>> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let mut routes = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                continue;
            };
            add_rule(&mut routes, &method, &rule)?;
            if let Some(Value::List(more)) = rule
                .get_field_by_name("additional_bindings")
                .map(|value| value.into_owned())
            {
                for binding in more {
                    if let Value::Message(binding) = binding {
                        add_rule(&mut routes, &method, &binding)?;
                    }
                }
            }
        }
    }
    // Templates with a custom verb first, then those with more literal segments, so that
    // `/v1/{initiative=initiatives/*}:progress` is tried before `/v1/{name=initiatives/*}`.
    routes.sort_by(|first, second| {
        second
            .template
            .verb
            .is_some()
            .cmp(&first.template.verb.is_some())
            .then(second.template.literal_count().cmp(&first.template.literal_count()))
    });
    Ok(routes)
}

fn add_rule(routes: &mut Vec<Route>, method: &MethodDescriptor, rule: &DynamicMessage) -> anyhow::Result<()> {
    let text = |name: &str| match rule.get_field_by_name(name).map(|value| value.into_owned()) {
        Some(Value::String(text)) => text,
        _ => String::new(),
    };
    let pattern = ["get", "put", "post", "delete", "patch"]
        .into_iter()
        .find(|verb| rule.has_field_by_name(verb))
        .map(|verb| (verb.to_uppercase(), text(verb)));
    let Some((verb, path)) = pattern else {
        return Ok(());
    };
    let template = PathTemplate::parse(&path)
        .map_err(|error| anyhow::anyhow!("bad path template on {}: {error}", method.full_name()))?;
    routes.push(Route {
        http_method: http::Method::from_bytes(verb.as_bytes())?,
        template,
        method: method.clone(),
        body: text("body"),
        response_body: text("response_body"),
    });
    Ok(())
}

/// The descriptor set of every contract.
pub fn pool() -> anyhow::Result<DescriptorPool> {
    Ok(DescriptorPool::decode(sse_proto::FILE_DESCRIPTOR_SET)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_initiatives_rpc_has_its_route() {
        let routes = routes(&pool().expect("pool")).expect("routes");
        let find = |rpc: &str| {
            routes
                .iter()
                .find(|route| route.method.full_name() == format!("sse.initiatives.v1.InitiativeService.{rpc}"))
                .map(|route| {
                    (
                        route.http_method.as_str().to_owned(),
                        route.template.as_str().to_owned(),
                        route.body.clone(),
                    )
                })
        };
        assert_eq!(
            find("GetInitiative"),
            Some(("GET".into(), "/v1/{name=initiatives/*}".into(), String::new()))
        );
        assert_eq!(
            find("CreateInitiative"),
            Some(("POST".into(), "/v1/initiatives".into(), "initiative".into()))
        );
        assert_eq!(
            find("UpdateInitiative"),
            Some((
                "PATCH".into(),
                "/v1/{initiative.name=initiatives/*}".into(),
                "initiative".into()
            ))
        );
        let progress = routes
            .iter()
            .position(|route| route.template.as_str().ends_with(":progress"));
        let get = routes
            .iter()
            .position(|route| route.template.as_str() == "/v1/{name=initiatives/*}");
        assert!(progress < get, "verbs are tried first");
    }
}
