-- The dashboard reads the latest events of one kind (recent transitions).
CREATE INDEX events_kind ON events (kind, seq);
