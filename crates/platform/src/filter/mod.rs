//! AIP-160 filtering, shared by every List: [`parser`] turns the filter string into an [`Expr`],
//! and [`FilterSchema::condition`] turns that into a SQL condition over the fields a resource
//! declares filterable. Repeated fields live in a facet table (`owner, field, value`) and are
//! matched with `EXISTS`, which reads the same on SQLite and PostgreSQL; on SQLite a List in id
//! order joins the first facet term every match has instead ([`RequiredFacet`]).

mod facets;
pub mod parser;
mod sql;

pub use parser::{CompareOp, Expr, FilterError, Value, parse};
pub use sql::{
    FacetTable, FieldKind, Filter, FilterField, FilterSchema, MAX_FILTER_CHARS, RequiredFacet, date_column,
    partial_date_column,
};
