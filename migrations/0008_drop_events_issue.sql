-- Append-only: never edit this file once it has landed.

-- `events_issue (issue, seq)` duplicated the first column of `events_issue_kind (issue,
-- kind, seq)`: a ticket's whole history (`karajan history`, evidence bundles) now reads
-- that index and sorts the ticket's rows by seq, which is no more work than reading
-- them. Every event paid for the duplicate with a fourth B-tree insert and every
-- append with one more page written to the WAL (issue 11).
DROP INDEX IF EXISTS events_issue;
