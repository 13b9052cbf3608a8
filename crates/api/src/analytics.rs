//! Analytics read from PostgreSQL: the caller's insights with weekly trends, an author's
//! article analytics, and admin reports (MySQL `role = 'admin'`; everyone else gets 403).
//! The plan's `analyticsHistoryDays` bounds how far back a user's own analytics reach.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use techhub_learning::reports;
use utoipa::IntoParams;

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

/// The caller's learning insights (the `user_learning_insights` view) and weekly trends.
#[utoipa::path(get, path = "/api/analytics/insights", tag = "analytics", params(InsightsQuery),
    responses((status = 200, description = "`{insights, weeklyTrends: [{week, sessions, minutes, avgCompletion, avgRating}], weeks}`; \
        weeks are clipped to the plan's analytics history"), (status = 401), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn insights(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<InsightsQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "insights": row.unwrap_or_else(|| json!({})),
        "weeklyTrends": trends,
        "weeks": weeks,
    })))
}

#[derive(Deserialize, IntoParams)]
pub struct ArticleAnalyticsQuery {
    /// Days of history, 1 to 90 (default 30), within the plan's analytics history.
    days: Option<i32>,
}

/// One article's engagement over time: totals, and views, likes and comments per day.
/// For its author only.
#[utoipa::path(get, path = "/api/analytics/articles/{slug}", tag = "analytics", params(ArticleAnalyticsQuery),
    responses((status = 200, description = "`{article: {slug, title}, totals: {views, likes, comments, bookmarks}, daily: [{day, views, likes, comments}]}`"),
        (status = 401), (status = 403, description = "Not the author"), (status = 404), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn article_analytics(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    Query(q): Query<ArticleAnalyticsQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let mut daily = reports::post_daily(&state.stores.postgres, &id, days).await?;
    // Views per day come from Redis; without Redis they read 0 and the total stays exact.
    let views = state
        .stores
        .redis
        .daily_views(&id)
        .await
        .unwrap_or_default();
    if let Some(days) = daily.as_array_mut() {
        for d in days {
            let day = d["day"].as_str().unwrap_or_default().to_string();
            d["views"] = json!(views.get(&day).copied().unwrap_or(0));
        }
    }
    Ok(Json(json!({
        "article": { "slug": post.slug, "title": post.title },
        "totals": {
            "views": post.engagement.views, "likes": post.engagement.likes,
            "comments": post.engagement.comments, "bookmarks": post.engagement.bookmarks,
        },
        "daily": daily,
        "days": days,
    })))
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

/// Admin: distinct active users per day, week or month.
#[utoipa::path(get, path = "/api/admin/reports/active-users", tag = "admin", params(ActiveUsersQuery),
    responses((status = 200, description = "`{period, activeUsers: [{period, activeUsers}]}`"), (status = 401), (status = 403), (status = 422)),
    security(("token" = [])))]
pub(crate) async fn active_users(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ActiveUsersQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({ "period": period, "activeUsers": series })))
}

/// Admin: the technologies studied most this week.
#[utoipa::path(get, path = "/api/admin/reports/top-technologies", tag = "admin",
    responses((status = 200, description = "`{technologies: [{technology, sessions, minutes, learners}]}`"), (status = 401), (status = 403)),
    security(("token" = [])))]
pub(crate) async fn top_technologies(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &auth).await?;
    let technologies = reports::top_technologies(&state.stores.postgres, 10).await?;
    Ok(Json(json!({ "technologies": technologies })))
}

/// Admin: how engagement scores are distributed, in bands of 10.
#[utoipa::path(get, path = "/api/admin/reports/engagement", tag = "admin",
    responses((status = 200, description = "`{distribution: [{from, to, users}]}`"), (status = 401), (status = 403)),
    security(("token" = [])))]
pub(crate) async fn engagement_distribution(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &auth).await?;
    let distribution = reports::engagement_distribution(&state.stores.postgres).await?;
    Ok(Json(json!({ "distribution": distribution })))
}
