-- Lifecycle details: the release an issue was resolved in (it regresses only on later
-- releases) and the ignore condition (JSON), on the current state and on every transition.
ALTER TABLE issue_state ADD COLUMN resolved_in_release String DEFAULT '', ADD COLUMN ignore_condition String DEFAULT '';
ALTER TABLE issue_history ADD COLUMN resolved_in_release String DEFAULT '', ADD COLUMN ignore_condition String DEFAULT '';
