//! Property tests of what reads untrusted input before any service logic: the AIP-160 filter
//! parser and its translation to SQL, `order_by`, page tokens and update masks. Whatever a
//! caller sends, none of them panics; each either accepts it or says where it is wrong, as the
//! caller's error (INVALID_ARGUMENT with the field named), in a message small enough to send.

use proptest::prelude::*;
use sse_platform::{
    ServiceError,
    filter::{self, FieldKind, FilterField, FilterSchema},
    pagination::{self, OrderField, PageToken, SortType},
    update_mask,
};

const SCHEMA: FilterSchema = FilterSchema {
    table: "things",
    id_column: "id",
    fields: &[
        FilterField::new("name", "id", FieldKind::ResourceName { prefix: "things/" }),
        FilterField::named("display_name", FieldKind::Text),
        FilterField::named("summary", FieldKind::IndexedText),
        FilterField::named(
            "status",
            FieldKind::Enum {
                prefix: "STATUS_",
                values: &["ACTIVE", "ENDED"],
            },
        ),
        FilterField::named("year", FieldKind::Integer),
        FilterField::named("value", FieldKind::Number),
        FilterField::named("create_time", FieldKind::Timestamp),
        FilterField::named("start_date", FieldKind::Date),
        FilterField::named("countries", FieldKind::RepeatedText),
        FilterField::named("sdg_goals", FieldKind::RepeatedInteger),
    ],
    text_columns: &["id", "display_name"],
    facets: Some(filter::FacetTable::new("thing_facets", "thing_id")),
};

const ORDER: &[OrderField] = &[
    OrderField::new("name", "id", SortType::Text),
    OrderField::named("display_name", SortType::Text),
    OrderField::named("create_time", SortType::Integer),
    OrderField::named("value", SortType::Number),
];

/// Pieces filters are made of, so that generated filters reach deep into the grammar rather
/// than failing on their first character.
fn filter_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(" AND ".to_owned()),
        Just(" OR ".to_owned()),
        Just("NOT ".to_owned()),
        Just("-".to_owned()),
        Just(" ".to_owned()),
        prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">=", ":", "!"]).prop_map(str::to_owned),
        prop::sample::select(SCHEMA.fields.iter().map(|field| field.name).collect::<Vec<_>>()).prop_map(str::to_owned),
        prop::sample::select(vec![
            "ACTIVE",
            "STATUS_ENDED",
            "2024",
            "2024-02-30",
            "-3",
            "2.5",
            "1e999",
            "*",
            "things/a",
            "\"2024-01-01T00:00:00Z\"",
            "\"zéro chômeur\"",
            "'it\\'s'",
            "\"\\q\"",
            "\"unclosed",
            "\"%_\\\\\"",
        ])
        .prop_map(str::to_owned),
        "[a-z_.]{1,8}",
        any::<char>().prop_map(String::from),
    ]
}

fn filter_like() -> impl Strategy<Value = String> {
    prop::collection::vec(filter_piece(), 0..24).prop_map(|pieces| pieces.concat())
}

/// A JSON value such as a forged page token might carry.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn assert_callers_error(error: &ServiceError, field: &str) {
    let ServiceError::InvalidArgument {
        violations, message, ..
    } = error
    else {
        panic!("not INVALID_ARGUMENT: {error:?}");
    };
    assert!(
        violations.iter().all(|violation| violation.field.starts_with(field)),
        "{violations:?}"
    );
    assert!(message.len() < 1024, "a {}-byte message", message.len());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_text_parses_or_fails_at_a_position_inside_it(input in "\\PC{0,64}|.{0,64}") {
        let length = input.chars().count();
        if let Err(error) = filter::parse(&input) {
            prop_assert!((1..=length + 1).contains(&error.position), "{error} in {input:?}");
        }
    }

    #[test]
    fn filter_shaped_text_parses_or_fails_at_a_position_inside_it(input in filter_like()) {
        let length = input.chars().count();
        if let Err(error) = filter::parse(&input) {
            prop_assert!((1..=length + 1).contains(&error.position), "{error} in {input:?}");
        }
    }

    #[test]
    fn any_filter_becomes_sql_or_an_invalid_filter(input in filter_like()) {
        for backend in [None, Some(sea_orm::DbBackend::Sqlite), Some(sea_orm::DbBackend::Postgres)] {
            match SCHEMA.condition_on(&input, backend) {
                Ok(_) => {
                    // Nothing the databases would refuse reaches them.
                    prop_assert!(
                        input
                            .chars()
                            .filter(|c| c.is_control() && !matches!(c, '\t' | '\n'))
                            .all(char::is_whitespace),
                        "{input:?}"
                    );
                }
                Err(error) => {
                    prop_assert_eq!(error.reason(), "INVALID_FILTER");
                    assert_callers_error(&error, "filter");
                }
            }
        }
    }

    #[test]
    fn comparisons_of_declared_fields_with_fitting_values_are_accepted(
        terms in prop::collection::vec(
            prop::sample::select(vec![
                "display_name:\"coop\"",
                "summary:\"zéro\"",
                "status = ACTIVE",
                "year >= 2010",
                "value < -2.5",
                "create_time > \"2024-01-01T00:00:00Z\"",
                "start_date <= 2016-05",
                "countries:\"FR\"",
                "sdg_goals:8",
                "name = \"things/x\"",
                "green",
            ]),
            1..8,
        ),
        joiners in prop::collection::vec(prop::sample::select(vec![" AND ", " OR ", " "]), 8),
        negated in prop::collection::vec(any::<bool>(), 8),
    ) {
        let mut filter = String::new();
        for (index, term) in terms.iter().enumerate() {
            if index > 0 {
                filter.push_str(joiners[index]);
            }
            if negated[index] {
                filter.push_str("NOT ");
            }
            filter.push_str(term);
        }
        prop_assert!(SCHEMA.condition(&filter).is_ok(), "{filter}");
    }

    #[test]
    fn any_order_by_is_read_or_refused_as_an_invalid_order_by(input in "\\PC{0,40}|[a-z_ ,]{0,40}") {
        match pagination::parse_order_by(&input, ORDER, "id") {
            Ok(keys) => prop_assert_eq!(keys.last().map(|key| key.column), Some("id")),
            Err(error) => {
                prop_assert_eq!(error.reason(), "INVALID_ORDER_BY");
                assert_callers_error(&error, "order_by");
            }
        }
    }

    #[test]
    fn any_page_token_text_is_read_or_refused_as_an_invalid_page_token(input in "[A-Za-z0-9_=+/-]{0,80}|\\PC{0,40}") {
        if let Err(error) = PageToken::decode(&input, "fingerprint") {
            prop_assert_eq!(error.reason(), "INVALID_PAGE_TOKEN");
            assert_callers_error(&error, "page_token");
        }
    }

    #[test]
    fn page_tokens_round_trip(keys in prop::collection::vec(json_value(), 0..4), fingerprint in "[0-9a-f]{16}") {
        let token = PageToken::new(fingerprint.clone(), keys);
        let decoded = PageToken::decode(&token.encode(), &fingerprint);
        prop_assert_eq!(decoded.ok(), Some(Some(token)));
    }

    #[test]
    fn any_sort_key_in_a_token_is_used_only_if_it_has_its_columns_type(
        order_by in prop::sample::select(vec!["", "display_name", "create_time desc", "value, name desc", "create_time, value desc"]),
        keys in prop::collection::vec(json_value(), 0..4),
    ) {
        let sort = pagination::parse_order_by(order_by, ORDER, "id").expect("a valid order_by");
        match pagination::after_condition("things", &sort, &keys) {
            Ok(_) => {
                prop_assert_eq!(sort.len(), keys.len());
                for (key, value) in sort.iter().zip(&keys) {
                    let fits = match key.kind {
                        SortType::Text => value
                            .as_str()
                            .is_some_and(|text| sse_platform::validate::forbidden_char(text).is_none()),
                        SortType::Integer => value.is_i64(),
                        SortType::Number => value.is_number(),
                    };
                    prop_assert!(fits, "{value} for {key:?}");
                }
            }
            Err(error) => {
                prop_assert_eq!(error.reason(), "INVALID_PAGE_TOKEN");
                assert_callers_error(&error, "page_token");
            }
        }
    }

    #[test]
    fn any_update_mask_names_writable_fields_or_each_path_that_is_not(
        mask in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec!["display_name", "countries", "name", "etag", "*", "create_time"]).prop_map(str::to_owned),
                "\\PC{0,12}",
            ],
            0..6,
        ),
    ) {
        let initiative = sse_proto::contract::expect_message("sse.initiatives.v1.Initiative");
        let writable = initiative.writable();
        match update_mask::paths(&mask, initiative, |field| field == "description") {
            Ok(paths) => prop_assert!(paths.iter().all(|path| writable.contains(path))),
            Err(error) => {
                assert_callers_error(&error, "update_mask.paths[");
                let ServiceError::InvalidArgument { violations, .. } = &error else {
                    unreachable!("checked above");
                };
                for violation in violations {
                    let index: usize = violation.field["update_mask.paths[".len()..]
                        .trim_end_matches(']')
                        .parse()
                        .expect("an index");
                    prop_assert!(!writable.contains(&mask[index].as_str()));
                }
            }
        }
    }
}
