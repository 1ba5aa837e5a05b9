//! The `data` of a Linear `Issue` data-change webhook delivery: the issue after the
//! change, in the shape of Linear's `IssueWebhookPayload` (public schema), with the
//! fields karajan reads and a realistic share of those it ignores. Deliveries carry no
//! relations, branch name or comments.

use super::*;

impl World {
    /// The delivered `data` of issue `identifier` as the fake holds it now.
    pub fn issue_delivery(&self, identifier: &str) -> Value {
        let i = self.issue(identifier);
        let state = self
            .states
            .iter()
            .find(|s| s.id == i.state_id)
            .expect("issue state");
        let team = self
            .teams
            .iter()
            .find(|(k, _)| *k == i.team)
            .map_or(i.team.clone(), |(_, n)| n.clone());
        let labels: Vec<Value> = i
            .labels
            .iter()
            .map(|l| json!({"id": format!("label-{l}"), "name": l, "color": "#5e6ad2"}))
            .collect();
        let priority_label =
            ["No priority", "Urgent", "High", "Medium", "Low"][i.priority.clamp(0.0, 4.0) as usize];
        json!({
            "id": i.id,
            "createdAt": ts(i.created_at),
            "updatedAt": ts(i.updated_at),
            "number": i.number,
            "title": i.title,
            "description": i.description,
            "priority": i.priority,
            "priorityLabel": priority_label,
            "identifier": i.identifier,
            "url": format!("https://linear.app/acme/issue/{}", i.identifier),
            "teamId": format!("team-{}", i.team),
            "team": {"id": format!("team-{}", i.team), "key": i.team, "name": team},
            "stateId": state.id,
            "state": {"id": state.id, "name": state.name, "type": state.kind, "color": "#f2c94c"},
            "projectId": i.project,
            "labelIds": i.labels.iter().map(|l| format!("label-{l}")).collect::<Vec<_>>(),
            "labels": labels,
            "subscriberIds": [],
            "previousIdentifiers": [],
            "sortOrder": -(i.number as f64),
            "prioritySortOrder": 0.0,
            "reactionData": {},
            "botActor": null,
        })
    }
}
