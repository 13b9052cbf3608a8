-- Every delivered event (a post, a comment, a like, a learning session) updates its user's
-- user_analytics row: the activity counters, last_activity, the engagement sums and score.
-- An update that changes no indexed column, and finds room on its page, is HOT: it adds no
-- index entries, and its dead version is pruned by the next read of the page without waiting
-- for a vacuum. last_activity and engagement_score were indexed, though nothing queries by
-- them, so each such update also inserted into all five indexes (two of them GIN), and its
-- dead versions waited for a vacuum: 619,467 of them against 100,000 live rows after a few
-- benchmark runs on a server with autovacuum off (docs/performance.md). An index for a
-- query that needs one comes with that query.
DROP INDEX IF EXISTS idx_user_analytics_last_activity;
DROP INDEX IF EXISTS idx_user_analytics_engagement;
-- Room on each page for the next version of its rows.
ALTER TABLE user_analytics SET (fillfactor = 80);
