-- Learning analytics. user_id is the MySQL users.id everywhere.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS user_analytics (
    id                UUID        PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id           BIGINT      NOT NULL UNIQUE CHECK (user_id > 0),
    username          TEXT        NULL,
    timezone          TEXT        NOT NULL DEFAULT 'UTC',
    learning_progress JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(learning_progress) = 'object'),
    skill_metrics     JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(skill_metrics) = 'object'),
    activity_summary  JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(activity_summary) = 'object'),
    preferences       JSONB       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(preferences) = 'object'),
    total_points      INTEGER     NOT NULL DEFAULT 0 CHECK (total_points >= 0),
    streak_days       INTEGER     NOT NULL DEFAULT 0 CHECK (streak_days >= 0),
    longest_streak    INTEGER     NOT NULL DEFAULT 0 CHECK (longest_streak >= streak_days),
    engagement_score  NUMERIC(5, 2) NOT NULL DEFAULT 0 CHECK (engagement_score BETWEEN 0 AND 100),
    -- The MySQL users.version this row's username/timezone came from.
    source_version    INTEGER     NOT NULL DEFAULT 0,
    last_activity     TIMESTAMPTZ NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_user_analytics_learning_progress ON user_analytics USING GIN (learning_progress);
CREATE INDEX IF NOT EXISTS idx_user_analytics_skill_metrics ON user_analytics USING GIN (skill_metrics);
CREATE INDEX IF NOT EXISTS idx_user_analytics_last_activity ON user_analytics (last_activity DESC);
CREATE INDEX IF NOT EXISTS idx_user_analytics_engagement ON user_analytics (engagement_score DESC);

CREATE TABLE IF NOT EXISTS learning_sessions (
    id                    UUID        PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id               BIGINT      NOT NULL CHECK (user_id > 0),
    content_type          TEXT        NOT NULL CHECK (content_type IN ('post', 'tutorial', 'video', 'course', 'exercise', 'documentation')),
    content_id            TEXT        NULL,
    technologies          TEXT[]      NOT NULL DEFAULT '{}',
    duration_minutes      INTEGER     NOT NULL CHECK (duration_minutes > 0 AND duration_minutes <= 1440),
    completion_percentage NUMERIC(5, 2) NOT NULL DEFAULT 0 CHECK (completion_percentage BETWEEN 0 AND 100),
    difficulty_level      SMALLINT    NULL CHECK (difficulty_level BETWEEN 1 AND 10),
    rating                SMALLINT    NULL CHECK (rating BETWEEN 1 AND 5),
    notes                 TEXT        NULL,
    started_at            TIMESTAMPTZ NOT NULL,
    ended_at              TIMESTAMPTZ NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chk_learning_sessions_time CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX IF NOT EXISTS idx_learning_sessions_user_started ON learning_sessions (user_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_learning_sessions_technologies ON learning_sessions USING GIN (technologies);
CREATE INDEX IF NOT EXISTS idx_learning_sessions_started ON learning_sessions (started_at);

CREATE TABLE IF NOT EXISTS learning_paths (
    id                     UUID        PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id                BIGINT      NOT NULL CHECK (user_id > 0),
    title                  TEXT        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description            TEXT        NULL,
    target_technologies    TEXT[]      NOT NULL DEFAULT '{}',
    milestones             JSONB       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(milestones) = 'array'),
    status                 TEXT        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'completed', 'abandoned')),
    completion_percentage  NUMERIC(5, 2) NOT NULL DEFAULT 0 CHECK (completion_percentage BETWEEN 0 AND 100),
    target_completion_date DATE        NULL,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_learning_paths_user_status ON learning_paths (user_id, status);
CREATE INDEX IF NOT EXISTS idx_learning_paths_milestones ON learning_paths USING GIN (milestones);
CREATE INDEX IF NOT EXISTS idx_learning_paths_title_trgm ON learning_paths USING GIN (title gin_trgm_ops);

CREATE TABLE IF NOT EXISTS skill_assessments (
    id              UUID        PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id         BIGINT      NOT NULL CHECK (user_id > 0),
    skill_area      TEXT        NOT NULL CHECK (char_length(skill_area) BETWEEN 1 AND 100),
    score           INTEGER     NOT NULL CHECK (score BETWEEN 0 AND 100),
    assessment_type TEXT        NOT NULL DEFAULT 'quiz' CHECK (assessment_type IN ('quiz', 'project', 'peer_review', 'self')),
    details         JSONB       NOT NULL DEFAULT '{}'::jsonb,
    taken_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_skill_assessments_user_area ON skill_assessments (user_id, skill_area, taken_at DESC);

-- One row per user: analytics plus the last 30 days of sessions, paths and assessments.
CREATE OR REPLACE VIEW user_learning_insights AS
SELECT
    ua.user_id,
    ua.username,
    ua.total_points,
    ua.streak_days,
    ua.longest_streak,
    ua.engagement_score,
    ua.last_activity,
    COALESCE(s.sessions_30d, 0)          AS sessions_30d,
    COALESCE(s.minutes_30d, 0)           AS minutes_30d,
    s.avg_completion_30d,
    s.avg_rating_30d,
    COALESCE(t.top_technologies, '{}')   AS top_technologies,
    COALESCE(p.active_paths, 0)          AS active_paths,
    COALESCE(p.completed_paths, 0)       AS completed_paths,
    a.avg_assessment_score,
    COALESCE(a.skill_areas_assessed, 0)  AS skill_areas_assessed
FROM user_analytics ua
LEFT JOIN LATERAL (
    SELECT count(*)::int                             AS sessions_30d,
           sum(ls.duration_minutes)::int             AS minutes_30d,
           round(avg(ls.completion_percentage), 2)   AS avg_completion_30d,
           round(avg(ls.rating), 2)                  AS avg_rating_30d
    FROM learning_sessions ls
    WHERE ls.user_id = ua.user_id AND ls.started_at >= now() - interval '30 days'
) s ON true
LEFT JOIN LATERAL (
    SELECT array_agg(tech ORDER BY n DESC, tech) AS top_technologies
    FROM (
        SELECT tech, count(*) AS n
        FROM learning_sessions ls, unnest(ls.technologies) AS tech
        WHERE ls.user_id = ua.user_id AND ls.started_at >= now() - interval '30 days'
        GROUP BY tech
        ORDER BY n DESC, tech
        LIMIT 5
    ) ranked
) t ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE lp.status = 'active')::int    AS active_paths,
           count(*) FILTER (WHERE lp.status = 'completed')::int AS completed_paths
    FROM learning_paths lp
    WHERE lp.user_id = ua.user_id
) p ON true
LEFT JOIN LATERAL (
    SELECT round(avg(latest.score), 2)  AS avg_assessment_score,
           count(*)::int                AS skill_areas_assessed
    FROM (
        SELECT DISTINCT ON (sa.skill_area) sa.score
        FROM skill_assessments sa
        WHERE sa.user_id = ua.user_id
        ORDER BY sa.skill_area, sa.taken_at DESC
    ) latest
) a ON true;

-- Events this database has applied, written in the same transaction as their effect, so a
-- redelivered event changes nothing.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id     UUID        NOT NULL,
    consumer     TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, consumer)
);
