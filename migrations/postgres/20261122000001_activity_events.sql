-- The activity log: one row per content event, keyed by the event id so a redelivered event
-- is recorded once. Counters per kind roll up into user_analytics.activity_summary in the same
-- transaction.

CREATE TABLE IF NOT EXISTS activity_events (
    event_id    UUID        PRIMARY KEY,
    user_id     BIGINT      NOT NULL CHECK (user_id > 0),
    kind        TEXT        NOT NULL CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    subject_id  TEXT        NOT NULL CHECK (length(subject_id) BETWEEN 1 AND 64),
    details     JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_activity_events_user_time ON activity_events (user_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS idx_activity_events_subject ON activity_events (subject_id);
