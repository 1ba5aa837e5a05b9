//! The GraphQL operations in `graphql/github/`, compiled by `graphql_client` against
//! karajan's own schema subset (`graphql/github/schema.graphql`). One type per operation.
#![allow(clippy::upper_case_acronyms)]

use graphql_client::GraphQLQuery;

type DateTime = chrono::DateTime<chrono::Utc>;
type URI = String;

/// Makes cargo rebuild when an operation or the schema subset changes (the derive
/// reads them, but cargo does not know that).
const _TRACKED: [&str; 9] = [
    include_str!("../../../graphql/github/schema.graphql"),
    include_str!("../../../graphql/github/resolve_project.graphql"),
    include_str!("../../../graphql/github/project_items.graphql"),
    include_str!("../../../graphql/github/issue_detail.graphql"),
    include_str!("../../../graphql/github/issue_blockers_NEWER_SCHEMA_ONLY.graphql"),
    include_str!("../../../graphql/github/issue_comments.graphql"),
    include_str!("../../../graphql/github/add_comment.graphql"),
    include_str!("../../../graphql/github/update_item_status.graphql"),
    include_str!("../../../graphql/github/close_issue.graphql"),
];

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/resolve_project.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct ResolveProject;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/project_items.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct ProjectItems;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/issue_detail.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct IssueDetail;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/issue_blockers_NEWER_SCHEMA_ONLY.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct IssueBlockers;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/issue_comments.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct IssueComments;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/add_comment.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct AddComment;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/update_item_status.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct UpdateItemStatus;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/close_issue.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct CloseIssue;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/move_and_comment.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct MoveAndComment;
