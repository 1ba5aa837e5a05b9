-- A review state's verdict (issue 13): JSON of the reviewer's verdict while the ticket's
-- phase is `succeeded` (the routing is due), NULL otherwise. Part of the phase, like
-- the other phase columns, so routing on it is as durable as the run it ended.
ALTER TABLE tickets ADD COLUMN verdict TEXT;
