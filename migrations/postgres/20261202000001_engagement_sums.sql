-- The engagement score's inputs as of engagement_at: per kind, the sum of the decay factors
-- of what the user did in the window, and their decayed minutes of learning. A batch of new
-- activity moves them (decayed to the batch's time, plus the new factors) without rereading
-- the user's history; engagement_exact_until is when that stops being exact (the oldest
-- counted input leaves the window, or one stamped ahead starts to decay), NULL for never.
-- NULL sums: not computed yet; the next change recomputes them from the history.
-- See crates/learning/src/engagement.rs.
ALTER TABLE user_analytics
    ADD COLUMN IF NOT EXISTS engagement_posts       DOUBLE PRECISION NULL,
    ADD COLUMN IF NOT EXISTS engagement_comments    DOUBLE PRECISION NULL,
    ADD COLUMN IF NOT EXISTS engagement_likes       DOUBLE PRECISION NULL,
    ADD COLUMN IF NOT EXISTS engagement_minutes     DOUBLE PRECISION NULL,
    ADD COLUMN IF NOT EXISTS engagement_at          TIMESTAMPTZ NULL,
    ADD COLUMN IF NOT EXISTS engagement_exact_until TIMESTAMPTZ NULL;
