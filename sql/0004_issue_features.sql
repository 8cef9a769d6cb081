-- The grouping features of the event that opened each issue, so the similarity index can be
-- rebuilt at start-up without reading raw events.
ALTER TABLE issues ADD COLUMN features String DEFAULT '';
