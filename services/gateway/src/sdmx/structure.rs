//! SDMX-ML 2.1 structure messages for the structure queries of SDMX REST: the dataflow
//! `SSE:DF_SSE_OBS(1.0)`, its data structure `SSE:DSD_SSE_OBS(1.0)`, the concept scheme
//! `SSE:CS_SSE_OBS(1.0)` and the codelists of the coded dimensions, each alone or with what it
//! references or is referenced by (`references=`).
//!
//! The dimensions and attributes are those of the indicators service's structure
//! (`services/indicators/src/sdmx/structure.xml`), with one difference: here INDICATOR,
//! REF_AREA and INITIATIVE are coded, by codelists listing the codes in use when the query is
//! answered, so that a client can show names and validate keys. SOURCE_ID stays uncoded (a
//! digest of the citation).

use std::fmt::Write;

use super::{
    error::SdmxError,
    xml::{COMMON_NS, MESSAGE_NS, STRUCTURE_NS, escape, header_start},
};

pub const STRUCTURE_MEDIA_TYPE: &str = "application/vnd.sdmx.structure+xml;version=2.1";

/// The structural artefacts the observatory publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Artefact {
    Dataflow,
    Codelist(CodelistId),
    ConceptScheme,
    DataStructure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CodelistId {
    Indicator,
    RefArea,
    Initiative,
    ObsStatus,
}

const CODELISTS: [CodelistId; 4] = [
    CodelistId::Indicator,
    CodelistId::RefArea,
    CodelistId::Initiative,
    CodelistId::ObsStatus,
];

impl CodelistId {
    pub fn id(self) -> &'static str {
        match self {
            CodelistId::Indicator => "CL_INDICATOR",
            CodelistId::RefArea => "CL_REF_AREA",
            CodelistId::Initiative => "CL_INITIATIVE",
            CodelistId::ObsStatus => "CL_OBS_STATUS",
        }
    }

    fn name(self) -> &'static str {
        match self {
            CodelistId::Indicator => "Indicators",
            CodelistId::RefArea => "Reference areas",
            CodelistId::Initiative => "Initiatives",
            CodelistId::ObsStatus => "Observation status",
        }
    }
}

/// The resources of SDMX REST structure queries the observatory answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Dataflow,
    DataStructure,
    Codelist,
    ConceptScheme,
}

impl Resource {
    /// A path's resource; `None` for the resources SDMX defines that the observatory has
    /// nothing of (category schemes, constraints…).
    pub fn parse(text: &str) -> Option<Resource> {
        match text {
            "dataflow" => Some(Resource::Dataflow),
            "datastructure" => Some(Resource::DataStructure),
            "codelist" => Some(Resource::Codelist),
            "conceptscheme" => Some(Resource::ConceptScheme),
            _ => None,
        }
    }

    fn of(artefact: Artefact) -> Resource {
        match artefact {
            Artefact::Dataflow => Resource::Dataflow,
            Artefact::DataStructure => Resource::DataStructure,
            Artefact::Codelist(_) => Resource::Codelist,
            Artefact::ConceptScheme => Resource::ConceptScheme,
        }
    }
}

impl Artefact {
    pub fn id(self) -> &'static str {
        match self {
            Artefact::Dataflow => "DF_SSE_OBS",
            Artefact::DataStructure => "DSD_SSE_OBS",
            Artefact::ConceptScheme => "CS_SSE_OBS",
            Artefact::Codelist(codelist) => codelist.id(),
        }
    }

    fn all() -> Vec<Artefact> {
        let mut all = vec![Artefact::Dataflow, Artefact::DataStructure, Artefact::ConceptScheme];
        all.extend(CODELISTS.map(Artefact::Codelist));
        all
    }

    /// What this artefact references directly.
    fn children(self) -> Vec<Artefact> {
        match self {
            Artefact::Dataflow => vec![Artefact::DataStructure],
            Artefact::DataStructure => {
                let mut children = vec![Artefact::ConceptScheme];
                children.extend(CODELISTS.map(Artefact::Codelist));
                children
            }
            Artefact::ConceptScheme | Artefact::Codelist(_) => Vec::new(),
        }
    }

    /// What references this artefact directly.
    fn parents(self) -> Vec<Artefact> {
        Artefact::all()
            .into_iter()
            .filter(|artefact| artefact.children().contains(&self))
            .collect()
    }
}

/// The artefacts a structure query selects, with what `references` adds; sorted and without
/// repeats. `Err` with code 100 when nothing matches, 140 when a parameter is not valid.
pub fn select(
    resource: Resource,
    agency: &str,
    id: &str,
    version: &str,
    references: Option<&str>,
) -> Result<Vec<Artefact>, SdmxError> {
    if !matches!(agency, "all" | "*" | "SSE" | "SSEOBS") {
        return Err(SdmxError::no_results(format!(
            "no {} of agency {agency}; the observatory's agency is SSE",
            resource_name(resource)
        )));
    }
    if !matches!(version, "latest" | "all" | "*" | "~" | "+" | "1.0" | "1.0.0") {
        return Err(SdmxError::no_results(format!(
            "no version {version}; the observatory's structures are version 1.0"
        )));
    }
    let wanted: Vec<&str> = id.split([',', '+']).collect();
    let mut selected: Vec<Artefact> = Artefact::all()
        .into_iter()
        .filter(|artefact| Resource::of(*artefact) == resource)
        .filter(|artefact| {
            wanted
                .iter()
                .any(|want| matches!(*want, "all" | "*") || *want == artefact.id())
        })
        .collect();
    if selected.is_empty() {
        return Err(SdmxError::no_results(format!(
            "no {} {id} of agency SSE",
            resource_name(resource)
        )));
    }
    let mut added = Vec::new();
    for artefact in &selected {
        added.extend(referenced(*artefact, references.unwrap_or("none"))?);
    }
    selected.extend(added);
    selected.sort();
    selected.dedup();
    Ok(selected)
}

fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Dataflow => "dataflow",
        Resource::DataStructure => "datastructure",
        Resource::Codelist => "codelist",
        Resource::ConceptScheme => "conceptscheme",
    }
}

fn descendants(artefact: Artefact) -> Vec<Artefact> {
    let mut found = Vec::new();
    for child in artefact.children() {
        found.push(child);
        found.extend(descendants(child));
    }
    found
}

fn ancestors(artefact: Artefact) -> Vec<Artefact> {
    let mut found = Vec::new();
    for parent in artefact.parents() {
        found.push(parent);
        found.extend(ancestors(parent));
    }
    found
}

/// What `references` adds to `artefact` (SDMX REST 2.1: none, parents, parentsandsiblings,
/// children, descendants, all, or the name of a resource type).
fn referenced(artefact: Artefact, references: &str) -> Result<Vec<Artefact>, SdmxError> {
    let parents_and_siblings = || {
        let parents = artefact.parents();
        let siblings = parents.iter().flat_map(|parent| parent.children());
        parents.iter().copied().chain(siblings).collect::<Vec<_>>()
    };
    Ok(match references {
        "none" => Vec::new(),
        "parents" => artefact.parents(),
        "parentsandsiblings" => parents_and_siblings(),
        "children" => artefact.children(),
        "descendants" => descendants(artefact),
        "all" => parents_and_siblings()
            .into_iter()
            .chain(descendants(artefact))
            .collect(),
        other => match Resource::parse(other) {
            Some(resource) => descendants(artefact)
                .into_iter()
                .chain(ancestors(artefact))
                .filter(|related| Resource::of(*related) == resource)
                .collect(),
            None if KNOWN_RESOURCES.contains(&other) => Vec::new(),
            None => {
                return Err(SdmxError::syntax(format!(
                    "references is none, parents, parentsandsiblings, children, descendants, all or a \
                     structure type, not {other}"
                )));
            }
        },
    })
}

/// The structure types of SDMX 2.1 the observatory has none of.
pub const KNOWN_RESOURCES: [&str; 16] = [
    "agencyscheme",
    "categorisation",
    "categoryscheme",
    "contentconstraint",
    "attachmentconstraint",
    "dataconsumerscheme",
    "dataproviderscheme",
    "hierarchicalcodelist",
    "metadataflow",
    "metadatastructure",
    "organisationscheme",
    "organisationunitscheme",
    "process",
    "provisionagreement",
    "reportingtaxonomy",
    "structureset",
];

/// The codes of the coded dimensions that change with the catalogue: (id, name), each sorted by
/// id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Codes {
    pub indicators: Vec<(String, String)>,
    pub ref_areas: Vec<(String, String)>,
    pub initiatives: Vec<(String, String)>,
}

/// Whether answering needs [`Codes`] (only the codelists themselves list codes).
pub fn needs_codes(artefacts: &[Artefact]) -> bool {
    artefacts.iter().any(|artefact| {
        matches!(
            artefact,
            Artefact::Codelist(CodelistId::Indicator | CodelistId::RefArea | CodelistId::Initiative)
        )
    })
}

const CONCEPTS: [(&str, &str); 13] = [
    ("INDICATOR", "Indicator"),
    ("REF_AREA", "Reference area"),
    ("INITIATIVE", "Initiative"),
    ("OBS_STATUS", "Observation status"),
    ("SOURCE_ID", "Source identifier"),
    ("TIME_PERIOD", "Time period or range"),
    ("OBS_VALUE", "Observation value"),
    ("UNIT_MEASURE", "Unit of measure"),
    ("SOURCE_TITLE", "Source title"),
    ("SOURCE_URL", "Source URL"),
    ("SOURCE_PUBLISHER", "Source publisher"),
    ("SOURCE_DATE", "Source publication date"),
    ("COMMENT", "Comment"),
];

/// Dimensions in key order: (id, codelist, or else the text type).
const DIMENSIONS: [(&str, Option<CodelistId>, &str); 5] = [
    ("INDICATOR", Some(CodelistId::Indicator), ""),
    ("REF_AREA", Some(CodelistId::RefArea), ""),
    ("INITIATIVE", Some(CodelistId::Initiative), ""),
    ("OBS_STATUS", Some(CodelistId::ObsStatus), ""),
    ("SOURCE_ID", None, "String"),
];

/// Attributes: (id, assignment status, text type).
const ATTRIBUTES: [(&str, &str, &str); 6] = [
    ("UNIT_MEASURE", "Mandatory", "String"),
    ("SOURCE_TITLE", "Mandatory", "String"),
    ("SOURCE_URL", "Conditional", "String"),
    ("SOURCE_PUBLISHER", "Conditional", "String"),
    ("SOURCE_DATE", "Conditional", "GregorianTimePeriod"),
    ("COMMENT", "Conditional", "String"),
];

const OBS_STATUS: [(&str, &str); 4] = [
    ("A", "Normal value (reported)"),
    ("E", "Estimated value"),
    ("P", "Provisional value"),
    ("T", "Target value"),
];

fn urn(class: &str, id: &str) -> String {
    format!("urn:sdmx:org.sdmx.infomodel.{class}=SSE:{id}(1.0)")
}

/// The structure message holding `artefacts` (as [`select`] returns them, in message order).
pub fn message(artefacts: &[Artefact], codes: &Codes) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mes:Structure xmlns:mes=\"{MESSAGE_NS}\" \
         xmlns:str=\"{STRUCTURE_NS}\" xmlns:com=\"{COMMON_NS}\">\n"
    );
    let id = artefacts.first().map_or("SSE", |artefact| artefact.id());
    out.push_str(&header_start(&format!("STR_{id}")));
    out.push_str("  </mes:Header>\n  <mes:Structures>\n");
    let has = |wanted: fn(&Artefact) -> bool| artefacts.iter().any(wanted);
    if has(|artefact| *artefact == Artefact::Dataflow) {
        out.push_str("    <str:Dataflows>\n");
        dataflow(&mut out);
        out.push_str("    </str:Dataflows>\n");
    }
    if has(|artefact| matches!(artefact, Artefact::Codelist(_))) {
        out.push_str("    <str:Codelists>\n");
        for artefact in artefacts {
            if let Artefact::Codelist(codelist) = artefact {
                write_codelist(&mut out, *codelist, codes);
            }
        }
        out.push_str("    </str:Codelists>\n");
    }
    if has(|artefact| *artefact == Artefact::ConceptScheme) {
        out.push_str("    <str:Concepts>\n");
        concept_scheme(&mut out);
        out.push_str("    </str:Concepts>\n");
    }
    if has(|artefact| *artefact == Artefact::DataStructure) {
        out.push_str("    <str:DataStructures>\n");
        data_structure(&mut out);
        out.push_str("    </str:DataStructures>\n");
    }
    out.push_str("  </mes:Structures>\n</mes:Structure>\n");
    out
}

fn dataflow(out: &mut String) {
    let _ = write!(
        out,
        "      <str:Dataflow id=\"DF_SSE_OBS\" agencyID=\"SSE\" version=\"1.0\" isFinal=\"true\" urn=\"{}\">\n        \
         <com:Name xml:lang=\"en\">SSE Observatory observations</com:Name>\n        <str:Structure>\n          \
         <Ref id=\"DSD_SSE_OBS\" agencyID=\"SSE\" version=\"1.0\" package=\"datastructure\" class=\"DataStructure\"/>\n        \
         </str:Structure>\n      </str:Dataflow>\n",
        urn("datastructure.Dataflow", "DF_SSE_OBS")
    );
}

fn write_codelist(out: &mut String, codelist: CodelistId, codes: &Codes) {
    let fixed: Vec<(String, String)>;
    let list: &[(String, String)] = match codelist {
        CodelistId::Indicator => &codes.indicators,
        CodelistId::RefArea => &codes.ref_areas,
        CodelistId::Initiative => &codes.initiatives,
        CodelistId::ObsStatus => {
            fixed = OBS_STATUS
                .iter()
                .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
                .collect();
            &fixed
        }
    };
    // The status codes are fixed; the others grow with the catalogue, so they are not final.
    let is_final = codelist == CodelistId::ObsStatus;
    let _ = writeln!(
        out,
        "      <str:Codelist id=\"{}\" agencyID=\"SSE\" version=\"1.0\" isFinal=\"{is_final}\" urn=\"{}\">\n        \
         <com:Name xml:lang=\"en\">{}</com:Name>",
        codelist.id(),
        urn("codelist.Codelist", codelist.id()),
        codelist.name()
    );
    for (id, name) in list {
        let name = if name.is_empty() { id } else { name };
        let _ = writeln!(
            out,
            "        <str:Code id=\"{}\" urn=\"urn:sdmx:org.sdmx.infomodel.codelist.Code=SSE:{}(1.0).{}\">\n          \
             <com:Name xml:lang=\"en\">{}</com:Name>\n        </str:Code>",
            escape(id),
            codelist.id(),
            escape(id),
            escape(name)
        );
    }
    out.push_str("      </str:Codelist>\n");
}

fn concept_scheme(out: &mut String) {
    let _ = writeln!(
        out,
        "      <str:ConceptScheme id=\"CS_SSE_OBS\" agencyID=\"SSE\" version=\"1.0\" isFinal=\"true\" urn=\"{}\">\n        \
         <com:Name xml:lang=\"en\">SSE Observatory concepts</com:Name>",
        urn("conceptscheme.ConceptScheme", "CS_SSE_OBS")
    );
    for (id, name) in CONCEPTS {
        let _ = writeln!(
            out,
            "        <str:Concept id=\"{id}\" urn=\"urn:sdmx:org.sdmx.infomodel.conceptscheme.Concept=SSE:CS_SSE_OBS(1.0).{id}\">\n          \
             <com:Name xml:lang=\"en\">{name}</com:Name>\n        </str:Concept>"
        );
    }
    out.push_str("      </str:ConceptScheme>\n");
}

fn concept_identity(id: &str) -> String {
    format!(
        "<str:ConceptIdentity>\n                <Ref id=\"{id}\" maintainableParentID=\"CS_SSE_OBS\" \
         maintainableParentVersion=\"1.0\" agencyID=\"SSE\" package=\"conceptscheme\" class=\"Concept\"/>\n              \
         </str:ConceptIdentity>"
    )
}

fn text_format(text_type: &str) -> String {
    format!(
        "<str:LocalRepresentation>\n                <str:TextFormat textType=\"{text_type}\"/>\n              \
         </str:LocalRepresentation>"
    )
}

fn data_structure(out: &mut String) {
    let _ = writeln!(
        out,
        "      <str:DataStructure id=\"DSD_SSE_OBS\" agencyID=\"SSE\" version=\"1.0\" isFinal=\"true\" urn=\"{}\">\n        \
         <com:Name xml:lang=\"en\">SSE Observatory observations</com:Name>\n        <str:DataStructureComponents>\n          \
         <str:DimensionList id=\"DimensionDescriptor\">",
        urn("datastructure.DataStructure", "DSD_SSE_OBS")
    );
    for (position, (id, codelist, text_type)) in DIMENSIONS.iter().enumerate() {
        let representation = match codelist {
            Some(codelist) => format!(
                "<str:LocalRepresentation>\n                <str:Enumeration>\n                  \
                 <Ref id=\"{}\" agencyID=\"SSE\" version=\"1.0\" package=\"codelist\" class=\"Codelist\"/>\n                \
                 </str:Enumeration>\n              </str:LocalRepresentation>",
                codelist.id()
            ),
            None => text_format(text_type),
        };
        let _ = writeln!(
            out,
            "            <str:Dimension id=\"{id}\" position=\"{}\">\n              {}\n              {representation}\n            \
             </str:Dimension>",
            position + 1,
            concept_identity(id)
        );
    }
    let _ = writeln!(
        out,
        "            <str:TimeDimension id=\"TIME_PERIOD\" position=\"{}\">\n              {}\n              {}\n            \
         </str:TimeDimension>\n          </str:DimensionList>\n          <str:AttributeList id=\"AttributeDescriptor\">",
        DIMENSIONS.len() + 1,
        concept_identity("TIME_PERIOD"),
        text_format("ObservationalTimePeriod")
    );
    for (id, status, text_type) in ATTRIBUTES {
        let _ = writeln!(
            out,
            "            <str:Attribute id=\"{id}\" assignmentStatus=\"{status}\">\n              {}\n              {}\n              \
             <str:AttributeRelationship>\n                <str:PrimaryMeasure>\n                  <Ref id=\"OBS_VALUE\"/>\n                \
             </str:PrimaryMeasure>\n              </str:AttributeRelationship>\n            </str:Attribute>",
            concept_identity(id),
            text_format(text_type)
        );
    }
    let _ = writeln!(
        out,
        "          </str:AttributeList>\n          <str:MeasureList id=\"MeasureDescriptor\">\n            \
         <str:PrimaryMeasure id=\"OBS_VALUE\">\n              {}\n              {}\n            </str:PrimaryMeasure>\n          \
         </str:MeasureList>\n        </str:DataStructureComponents>\n      </str:DataStructure>",
        concept_identity("OBS_VALUE"),
        text_format("Double")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(selected: Result<Vec<Artefact>, SdmxError>) -> Vec<&'static str> {
        selected
            .map(|artefacts| artefacts.iter().map(|a| a.id()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn references_add_what_they_name() {
        let dataflow = |references| select(Resource::Dataflow, "SSE", "DF_SSE_OBS", "latest", references);
        assert_eq!(ids(dataflow(None)), ["DF_SSE_OBS"]);
        assert_eq!(ids(dataflow(Some("children"))), ["DF_SSE_OBS", "DSD_SSE_OBS"]);
        assert_eq!(ids(dataflow(Some("all"))).len(), 7);
        assert_eq!(ids(dataflow(Some("descendants"))).len(), 7);
        assert_eq!(
            ids(dataflow(Some("codelist"))),
            [
                "DF_SSE_OBS",
                "CL_INDICATOR",
                "CL_REF_AREA",
                "CL_INITIATIVE",
                "CL_OBS_STATUS"
            ]
        );
        let codelist = select(Resource::Codelist, "all", "CL_OBS_STATUS", "1.0", Some("parents"));
        assert_eq!(ids(codelist), ["CL_OBS_STATUS", "DSD_SSE_OBS"]);
        assert_eq!(ids(select(Resource::Codelist, "SSE", "all", "all", None)).len(), 4);
    }

    #[test]
    fn unknown_artefacts_are_no_results_and_bad_parameters_syntax_errors() {
        let code = |result: Result<Vec<Artefact>, SdmxError>| result.err().map(|error| error.code);
        assert_eq!(
            code(select(Resource::Dataflow, "ECB", "DF_SSE_OBS", "latest", None)),
            Some(100)
        );
        assert_eq!(
            code(select(Resource::Dataflow, "SSE", "DF_OTHER", "latest", None)),
            Some(100)
        );
        assert_eq!(
            code(select(Resource::Dataflow, "SSE", "DF_SSE_OBS", "2.0", None)),
            Some(100)
        );
        assert_eq!(
            code(select(Resource::Dataflow, "SSE", "DF_SSE_OBS", "latest", Some("x"))),
            Some(140)
        );
    }

    #[test]
    fn codelists_list_the_codes_given() {
        let codes = Codes {
            indicators: vec![("jobs".into(), "Jobs & more".into())],
            ref_areas: vec![("FR".into(), "France".into())],
            initiatives: vec![],
        };
        let text = message(&[Artefact::Codelist(CodelistId::Indicator)], &codes);
        assert!(text.contains("<str:Code id=\"jobs\""));
        assert!(text.contains("Jobs &amp; more"));
        assert!(!text.contains("<str:DataStructures>"));
    }
}
