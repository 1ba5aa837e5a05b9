//! `karajan recover` and pull requests: the lost store also held each ticket's pull
//! request (the gates that wait on its checks and reviews, the merge on approval, the
//! "one PR per ticket" rule all read it from the record). The forge knows it: the
//! ticket's branch is named by `workspace.branch`, and a pull request's head is that
//! branch, so recovery asks the forge for it the way opening one does (`find`: the open
//! one from the branch, else the newest closed) and records it as the lost store had it.
//! Read-only: nothing is written to the forge.

use crate::config::Workflow;
use crate::domain::TicketSnapshot;
use crate::forge::GithubApi;
use crate::store::{EventKind, NewEvent};

/// The forge's pull-request API when the workflow has one (`None`: no forge, or a
/// `git` forge, which has no pull requests).
pub fn api(wf: &Workflow) -> Result<Option<GithubApi>, String> {
    let Some(forge) = &wf.forge else {
        return Ok(None);
    };
    let Some(g) = forge.github() else {
        return Ok(None);
    };
    GithubApi::trusting(g, forge.ca_file.as_deref())
        .map(Some)
        .map_err(|e| format!("forge: {e}"))
}

/// The events that give `ticket` (in `state`) its pull request back: opened (with the
/// head GitHub reports) and, when it is merged, merged. Empty when its branch never
/// had one.
pub async fn events(
    wf: &Workflow,
    api: &GithubApi,
    ticket: &TicketSnapshot,
    state: &str,
) -> Result<Vec<NewEvent>, String> {
    let ctx = crate::prompt::PromptContext::new(ticket, state, 1, 1);
    let rendered = crate::prompt::render_branch(&wf.workspace.branch, &ctx)
        .map_err(|e| format!("workspace.branch: {e}"))?;
    let branch = crate::workspace::branch_name(&rendered);
    let Some(pr) = api
        .find(&branch)
        .await
        .map_err(|e| format!("the pull request of {branch}: {e}"))?
    else {
        return Ok(vec![]);
    };
    let id = &ticket.identifier;
    let mut out = vec![NewEvent::for_issue(
        id,
        EventKind::PullRequestOpened {
            repo: api.repo(),
            number: pr.number,
            url: pr.url.clone(),
            branch,
            created: false,
            head: (!pr.head_sha.is_empty()).then(|| pr.head_sha.clone()),
        },
    )];
    if pr.merged {
        out.push(NewEvent::for_issue(
            id,
            EventKind::PullRequestMerged {
                repo: api.repo(),
                number: pr.number,
                sha: None,
            },
        ));
    }
    Ok(out)
}
