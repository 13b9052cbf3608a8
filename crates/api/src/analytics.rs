//! Analytics read from PostgreSQL: the caller's insights with weekly trends, an author's
//! article analytics, and admin reports (MySQL `role = 'admin'`; everyone else gets 403).
//! The plan's `analyticsHistoryDays` bounds how far back a user's own analytics reach.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use techhub_learning::reports;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::AppState;

/// The plan's analytics history, in days (None: unlimited).
async fn history_days(state: &AppState, user_id: u64) -> Result<Option<u32>, ApiError> {
    let sub = techhub_accounts::billing::current(&state.stores.mysql, user_id).await?;
    Ok(sub.plan.entitlements().analytics_history_days)
}

#[derive(Deserialize, IntoParams)]
pub struct InsightsQuery {
    /// Weeks of trends, 1 to 52 (default 8), within the plan's analytics history.
    weeks: Option<i32>,
}

/// A report PostgreSQL put together as JSON, read into the shape the API documents.
fn typed<T: DeserializeOwned>(report: &'static str, json: Value) -> Result<T, ApiError> {
    serde_json::from_value(json)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the {report} report: {e}")))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightsResponse {
    insights: LearningInsights,
    /// Oldest first, one per week (Monday to Sunday, UTC), weeks without sessions included.
    weekly_trends: Vec<WeeklyTrend>,
    /// How many weeks `weeklyTrends` covers: the weeks asked for, clipped to the plan's
    /// analytics history.
    weeks: i32,
}

/// The caller's row of the `user_learning_insights` view (its column names): totals, and the
/// last 30 days of sessions, learning paths and assessments. Zeros and nulls before their
/// analytics exist (just after registering).
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct LearningInsights {
    #[schema(required = true)]
    username: Option<String>,
    total_points: i64,
    streak_days: i32,
    longest_streak: i32,
    /// 0 to 100.
    engagement_score: f64,
    /// When they were last active (PostgreSQL's timestamp format).
    #[schema(required = true, example = "2026-12-05T10:15:30.123456+00:00")]
    last_activity: Option<String>,
    sessions_30d: i64,
    minutes_30d: i64,
    /// 0 to 100; null without sessions.
    #[schema(required = true)]
    avg_completion_30d: Option<f64>,
    /// 1 to 5; null without rated sessions.
    #[schema(required = true)]
    avg_rating_30d: Option<f64>,
    /// Up to five, most sessions first.
    top_technologies: Vec<String>,
    active_paths: i64,
    completed_paths: i64,
    /// The mean of the latest score per skill area; null without assessments.
    #[schema(required = true)]
    avg_assessment_score: Option<f64>,
    skill_areas_assessed: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyTrend {
    /// The week's Monday.
    #[schema(example = "2026-11-30")]
    week: String,
    sessions: i64,
    minutes: i64,
    /// Null in a week without sessions.
    #[schema(required = true)]
    avg_completion: Option<f64>,
    /// Null in a week without rated sessions.
    #[schema(required = true)]
    avg_rating: Option<f64>,
}

/// The caller's learning insights (the `user_learning_insights` view) and weekly trends.
#[utoipa::path(get, path = "/api/analytics/insights", tag = "analytics", params(InsightsQuery),
    responses((status = 200, body = InsightsResponse, description = "Weeks are clipped to the plan's analytics history"),
        (status = 401), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn insights(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<InsightsQuery>,
) -> Result<Json<InsightsResponse>, ApiError> {
    let asked = q.weeks.unwrap_or(8);
    if !(1..=52).contains(&asked) {
        return Err(ApiError::invalid("weeks", "must be between 1 and 52"));
    }
    let allowed = history_days(&state, auth.id)
        .await?
        .map(|d| (d / 7).max(1) as i32);
    let weeks = allowed.map_or(asked, |a| asked.min(a));
    let pg = &state.stores.postgres;
    let (row, trends) = tokio::try_join!(
        reports::insights(pg, auth.id),
        reports::weekly_trends(pg, auth.id, weeks)
    )?;
    Ok(Json(InsightsResponse {
        insights: row
            .map(|r| typed("insights", r))
            .transpose()?
            .unwrap_or_default(),
        weekly_trends: typed("weekly trends", trends)?,
        weeks,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct ArticleAnalyticsQuery {
    /// Days of history, 1 to 90 (default 30), within the plan's analytics history.
    days: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleAnalyticsResponse {
    article: AnalyzedArticle,
    /// Since the article was published.
    totals: ArticleTotals,
    /// Oldest first, one per UTC day, days without activity included.
    daily: Vec<DailyEngagement>,
    /// How many days `daily` covers: the days asked for, clipped to the plan's analytics
    /// history.
    days: i32,
}

#[derive(Serialize, ToSchema)]
pub struct AnalyzedArticle {
    slug: String,
    title: String,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleTotals {
    views: i64,
    likes: i64,
    comments: i64,
    bookmarks: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DailyEngagement {
    #[schema(example = "2026-12-05")]
    day: String,
    /// Counted in Redis; 0 when Redis is unavailable.
    #[serde(default)]
    #[schema(required = true)]
    views: i64,
    likes: i64,
    comments: i64,
}

/// One article's engagement over time: totals, and views, likes and comments per day.
/// For its author only.
#[utoipa::path(get, path = "/api/analytics/articles/{slug}", tag = "analytics", params(ArticleAnalyticsQuery),
    responses((status = 200, body = ArticleAnalyticsResponse),
        (status = 401), (status = 403, description = "Not the author"), (status = 404), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn article_analytics(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    Query(q): Query<ArticleAnalyticsQuery>,
) -> Result<Json<ArticleAnalyticsResponse>, ApiError> {
    let asked = q.days.unwrap_or(30);
    if !(1..=90).contains(&asked) {
        return Err(ApiError::invalid("days", "must be between 1 and 90"));
    }
    let post = techhub_content::posts::by_slug(&state.stores.mongo, &slug)
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    if post.author_id != auth.id {
        return Err(ApiError::Forbidden(
            "only the author may see an article's analytics".into(),
        ));
    }
    let days = history_days(&state, auth.id)
        .await?
        .map_or(asked, |d| asked.min(d as i32));
    let id = post.id.to_hex();
    let mut daily: Vec<DailyEngagement> = typed(
        "article activity",
        reports::post_daily(&state.stores.postgres, &id, days).await?,
    )?;
    // Views per day come from Redis; without Redis they read 0 and the total stays exact.
    let views = state
        .stores
        .redis
        .daily_views(&id)
        .await
        .unwrap_or_default();
    for d in &mut daily {
        d.views = views.get(&d.day).copied().unwrap_or(0);
    }
    Ok(Json(ArticleAnalyticsResponse {
        article: AnalyzedArticle {
            slug: post.slug,
            title: post.title,
        },
        totals: ArticleTotals {
            views: post.engagement.views,
            likes: post.engagement.likes,
            comments: post.engagement.comments,
            bookmarks: post.engagement.bookmarks,
        },
        daily,
        days,
    }))
}

async fn admin(state: &AppState, auth: &AuthUser) -> Result<(), ApiError> {
    let user = techhub_accounts::users::find(&state.stores.mysql, auth.id).await?;
    if user.role != "admin" {
        return Err(ApiError::Forbidden("admins only".into()));
    }
    Ok(())
}

#[derive(Deserialize, IntoParams)]
pub struct ActiveUsersQuery {
    /// day (default), week or month.
    period: Option<String>,
    /// How many periods back, 1 to 366 (default 30).
    count: Option<i32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveUsersReport {
    /// `day`, `week` or `month`, as asked.
    #[schema(example = "day")]
    period: String,
    /// Oldest first, periods without activity included.
    active_users: Vec<ActiveUsersInPeriod>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveUsersInPeriod {
    /// The period's first day (weeks start on Monday; UTC).
    #[schema(example = "2026-12-01")]
    period: String,
    /// Distinct users with any activity or learning session in the period.
    active_users: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TopTechnologiesReport {
    /// At most ten, most sessions first.
    technologies: Vec<TechnologyUsage>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TechnologyUsage {
    #[schema(example = "rust")]
    technology: String,
    sessions: i64,
    minutes: i64,
    /// Distinct users who studied it.
    learners: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EngagementReport {
    /// Ten bands, 0–10 to 90–100.
    distribution: Vec<EngagementBand>,
}

/// Users whose engagement score is at least `from` and below `to` (the last band includes 100).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EngagementBand {
    from: i32,
    to: i32,
    users: i64,
}

/// Admin: distinct active users per day, week or month.
#[utoipa::path(get, path = "/api/admin/reports/active-users", tag = "admin", params(ActiveUsersQuery),
    responses((status = 200, body = ActiveUsersReport), (status = 401), (status = 403), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn active_users(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ActiveUsersQuery>,
) -> Result<Json<ActiveUsersReport>, ApiError> {
    admin(&state, &auth).await?;
    let period = q.period.unwrap_or_else(|| "day".into());
    if !reports::PERIODS.contains(&period.as_str()) {
        return Err(ApiError::invalid(
            "period",
            "must be one of day, week, month",
        ));
    }
    let count = q.count.unwrap_or(30);
    if !(1..=366).contains(&count) {
        return Err(ApiError::invalid("count", "must be between 1 and 366"));
    }
    let series = reports::active_users(&state.stores.postgres, &period, count).await?;
    Ok(Json(ActiveUsersReport {
        active_users: typed("active users", series)?,
        period,
    }))
}

/// Admin: the technologies studied most this week.
#[utoipa::path(get, path = "/api/admin/reports/top-technologies", tag = "admin",
    responses((status = 200, body = TopTechnologiesReport, description = "Sessions started since Monday (UTC)"), (status = 401), (status = 403)),
    security(("token" = [])))]
pub(crate) async fn top_technologies(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<TopTechnologiesReport>, ApiError> {
    admin(&state, &auth).await?;
    let technologies = reports::top_technologies(&state.stores.postgres, 10).await?;
    Ok(Json(TopTechnologiesReport {
        technologies: typed("top technologies", technologies)?,
    }))
}

/// Admin: how engagement scores are distributed, in bands of 10.
#[utoipa::path(get, path = "/api/admin/reports/engagement", tag = "admin",
    responses((status = 200, body = EngagementReport), (status = 401), (status = 403)),
    security(("token" = [])))]
pub(crate) async fn engagement_distribution(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<EngagementReport>, ApiError> {
    admin(&state, &auth).await?;
    let distribution = reports::engagement_distribution(&state.stores.postgres).await?;
    Ok(Json(EngagementReport {
        distribution: typed("engagement", distribution)?,
    }))
}
