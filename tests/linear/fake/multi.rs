//! Documents with several mutations (`move: issueUpdate(...) comment: commentCreate(...)`),
//! executed the way Linear's GraphQL server does: top-level fields in order, each
//! answered under its alias; a failed field with a non-null payload (both of ours are)
//! nulls the whole `data` and stops the fields after it, its error carrying `path`.
//! HTTP 200 either way.

use serde_json::{Map, Value, json};

/// One top-level field of a mutation: its alias (or name), its name, and the
/// `argument: $variable` pairs of its arguments (input objects flattened).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub alias: String,
    pub name: String,
    pub args: Vec<(String, String)>,
}

/// The top-level fields of a `mutation` document (empty for a query).
pub fn mutation_fields(query: &str) -> Vec<Field> {
    let text: String = query
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let trimmed = text.trim_start();
    if !trimmed.starts_with("mutation") {
        return Vec::new();
    }
    // Skip the operation's variable definitions, then read the selection set.
    let mut chars = trimmed.chars().peekable();
    let mut paren = 0;
    for c in chars.by_ref() {
        match c {
            '(' => paren += 1,
            ')' => paren -= 1,
            '{' if paren == 0 => break,
            _ => {}
        }
    }
    let (mut depth, mut paren) = (1, 0);
    let (mut header, mut args) = (String::new(), String::new());
    let mut fields = Vec::new();
    for c in chars {
        match c {
            '(' => {
                paren += 1;
                if depth == 1 && paren == 1 {
                    continue;
                }
            }
            ')' => {
                paren -= 1;
                if depth == 1 && paren == 0 {
                    continue;
                }
            }
            '{' if paren == 0 => {
                if depth == 1 {
                    fields.push(field(&header, &args));
                    header.clear();
                    args.clear();
                }
                depth += 1;
                continue;
            }
            '}' if paren == 0 => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                continue;
            }
            _ => {}
        }
        if depth == 1 && paren == 0 {
            header.push(c);
        } else if depth == 1 {
            args.push(c);
        }
    }
    fields
}

fn field(header: &str, args: &str) -> Field {
    let header = header.trim();
    let (alias, name) = match header.split_once(':') {
        Some((a, n)) => (a.trim().to_string(), n.trim().to_string()),
        None => (header.to_string(), header.to_string()),
    };
    let mut pairs = Vec::new();
    let mut rest = args;
    while let Some(dollar) = rest.find('$') {
        let before = rest[..dollar].trim_end().trim_end_matches(':').trim_end();
        let arg = before
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let after = &rest[dollar + 1..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        pairs.push((arg.to_string(), after[..end].to_string()));
        rest = &after[end..];
    }
    Field {
        alias,
        name,
        args: pairs,
    }
}

/// Runs `fields` in order with `run(field name, arguments)`, which answers like a
/// single operation (`{fieldName: payload}` or `(code, message)`).
pub fn execute(
    fields: &[Field],
    variables: &Value,
    mut run: impl FnMut(&str, &Value) -> Result<Value, (String, String)>,
) -> Value {
    let mut data = Map::new();
    for f in fields {
        let args: Map<String, Value> = f
            .args
            .iter()
            .map(|(arg, var)| (arg.clone(), variables[var.as_str()].clone()))
            .collect();
        match run(&f.name, &Value::Object(args)) {
            Ok(mut payload) => {
                data.insert(f.alias.clone(), payload[f.name.as_str()].take());
            }
            Err((code, message)) => {
                return json!({
                    "data": null,
                    "errors": [{
                        "message": message,
                        "path": [f.alias],
                        "locations": [{"line": 1, "column": 1}],
                        "extensions": {"type": "graphql error", "code": code, "userPresentableMessage": message}
                    }]
                });
            }
        }
    }
    json!({ "data": data })
}

#[cfg(test)]
mod tests {
    // The drain bench includes this file too, where `#[test]` functions are left out.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn reads_aliases_names_and_variables() {
        let doc = include_str!("../../../graphql/linear/MoveAndComment.graphql");
        let fields = mutation_fields(doc);
        assert_eq!(
            fields,
            vec![
                Field {
                    alias: "move".into(),
                    name: "issueUpdate".into(),
                    args: vec![
                        ("id".into(), "id".into()),
                        ("stateId".into(), "stateId".into())
                    ],
                },
                Field {
                    alias: "comment".into(),
                    name: "commentCreate".into(),
                    args: vec![
                        ("issueId".into(), "id".into()),
                        ("body".into(), "body".into())
                    ],
                },
            ]
        );
        assert!(mutation_fields("query Q { issues { nodes { id } } }").is_empty());
    }
}
