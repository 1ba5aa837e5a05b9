//! The pull-request scratch: the GitHub scratch (the fake is tracker and forge in one)
//! with `acme/app.git` served over git's smart HTTP from a bare repository that the
//! fake's pull requests and branches read, and `implement` opening the ticket's pull
//! request (`pull_request: open`). Shared by the pull-request tests.

use super::fake::{FakePull, TOKEN};
use super::scratch::GhScratch;
use crate::e2e::git_http::GitHttp;
use crate::e2e::support::{copy_tree, repo_root};

pub(crate) struct PrScratch {
    pub(crate) s: GhScratch,
    _git: GitHttp,
}

impl PrScratch {
    /// The GitHub scratch (labels mode) with `acme/app.git` served over HTTP, the
    /// workspace cloned from it, and `implement` opening the pull request.
    pub(crate) fn new() -> PrScratch {
        let s = GhScratch::new("labels", "");
        let served = s.path().join("served");
        copy_tree(
            &repo_root().join("examples/quickstart/demo-repo.git"),
            &served.join("acme/app.git"),
        );
        s.fake.lock().git_root = Some(served.clone());
        let git = GitHttp::serve(&served, TOKEN);
        let wf = std::fs::read_to_string(s.path().join("workflow.yaml")).unwrap();
        let wf = wf
            .replace("repo: ./demo-repo.git", "repo: ./served/acme/app.git")
            .replace(
                "    prompt: prompts/implement.md\n    next: review",
                "    prompt: prompts/implement.md\n    next: review\n    pull_request: open",
            );
        let wf = format!(
            "{wf}forge:\n  kind: github\n  remote: {}/acme/app.git\n  pull_request:\n    title: \"{{{{ issue.title }}}} ({{{{ issue.identifier }}}})\"\n",
            git.url()
        );
        std::fs::write(s.path().join("workflow.yaml"), wf).unwrap();
        PrScratch { s, _git: git }
    }

    pub(crate) fn pulls(&self) -> Vec<FakePull> {
        self.s.fake.lock().pulls.clone()
    }

    pub(crate) fn creates(&self) -> usize {
        self.s
            .fake
            .requests()
            .iter()
            .filter(|r| *r == "POST /repos/acme/app/pulls")
            .count()
    }

    /// Merge requests (`PUT …/pulls/N/merge`) the fake received, carried out or not.
    pub(crate) fn merge_attempts(&self) -> usize {
        self.s
            .fake
            .requests()
            .iter()
            .filter(|r| r.ends_with("/merge"))
            .count()
    }

    pub(crate) fn db(&self) -> std::path::PathBuf {
        self.s.path().join(".karajan/karajan.db")
    }

    pub(crate) fn tip(&self, branch: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(self.s.path().join("served/acme/app.git")).ok()?;
        let r = repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
        r.target().map(|o| o.to_string())
    }
}
