-- A ticket's pull request (issue 12): JSON `{"repo", "number", "url"}`, or NULL before
-- karajan opened one. Folded from `pull_request_opened` events like every column.
ALTER TABLE tickets ADD COLUMN pull_request TEXT;
