//! `GET /api/dashboard`: one request fans out concurrently to MySQL (account, subscription),
//! PostgreSQL (analytics, sessions this week) and MongoDB (profile, five recent published
//! posts, post count), and combines them. A store that fails or is slow (each read is bounded
//! by `TECHHUB_QUERY_TIMEOUT_MS`) leaves its part `null` and is named in `degraded`; the answer
//! is still 200. Complete answers are cached in Redis for 5 minutes (`X-Cache`); posts,
//! sessions, profile and subscription changes drop the entry.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use techhub_accounts::{billing, users};
use techhub_cache::entries::keys;
use techhub_content::profiles;

use crate::cached::{self, Loaded};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::{iso, AppState};

/// How long a dashboard stays cached.
pub const DASHBOARD_TTL: Duration = Duration::from_secs(300);

/// The caller's dashboard across the three databases.
#[utoipa::path(get, path = "/api/dashboard", tag = "dashboard",
    responses((status = 200, description = "`{\"dashboard\": {account, subscription, learning, content, degraded, generatedAt}}`; \
        a part whose store failed is null and the store is listed in `degraded`. Header `X-Cache: hit|miss`."),
        (status = 401)),
    security(("token" = [])))]
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Response, ApiError> {
    let key = keys::dashboard(auth.id);
    let dashboard = cached::load(&state, &key, DASHBOARD_TTL, || build(&state, auth.id)).await?;
    Ok(cached::answer(dashboard))
}

async fn build(state: &AppState, user_id: u64) -> Result<Loaded, ApiError> {
    let mysql = &state.stores.mysql;
    let pg = &state.stores.postgres;
    let mongo = &state.stores.mongo;
    let (account, learning, content) = tokio::join!(
        async {
            let (user, sub) = tokio::try_join!(
                users::find(mysql, user_id),
                billing::current(mysql, user_id)
            )?;
            Ok::<_, ApiError>(json!({
                "account": {
                    "username": user.username, "email": user.email, "bio": user.bio, "image": user.image,
                    "emailVerified": user.email_verified, "status": user.status, "timezone": user.timezone,
                    "memberSince": iso(user.created_at),
                },
                "subscription": {
                    "plan": sub.plan, "status": sub.status, "billingCycle": sub.billing_cycle,
                    "price": sub.price.to_string(), "currency": sub.currency, "autoRenew": sub.auto_renew,
                    "currentPeriodEnd": sub.current_period_end.map(iso),
                    "entitlements": sub.plan.entitlements(),
                },
            }))
        },
        async {
            let s = techhub_learning::sessions::summary(pg, user_id).await?;
            Ok::<_, ApiError>(json!({
                "totalPoints": s.total_points, "streakDays": s.streak_days, "longestStreak": s.longest_streak,
                "engagementScore": s.engagement_score, "learningProgress": s.learning_progress,
                "activity": s.activity_summary, "lastActivity": s.last_activity.map(iso),
                "sessionsThisWeek": s.sessions_this_week, "minutesThisWeek": s.minutes_this_week,
            }))
        },
        async {
            let filter = techhub_search::ListQuery {
                authors: Some(vec![user_id]),
                limit: 5,
                ..Default::default()
            };
            let ((following, bookmarks), (recent, total)) = tokio::try_join!(
                async {
                    Ok::<_, ApiError>(profiles::following_and_bookmarks(mongo, user_id).await?)
                },
                crate::articles::listing::index_page(state, Some(user_id), filter),
            )?;
            let recent: Vec<Value> = recent
                .iter()
                .map(|p| {
                    json!({
                        "slug": p.slug, "title": p.title, "favoritesCount": p.favorites_count(),
                        "views": p.engagement.views, "comments": p.engagement.comments,
                        "publishedAt": p.published_at.map(crate::articles::render::time),
                    })
                })
                .collect();
            Ok::<_, ApiError>(json!({
                "following": following.len(), "bookmarks": bookmarks.len(),
                "recentPosts": recent, "totalPosts": total,
            }))
        },
    );
    let mut degraded = Vec::new();
    let mut part = |result: Result<Value, ApiError>, store: &'static str| match result {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(store, error = %e, "dashboard part missing");
            degraded.push(store);
            Value::Null
        }
    };
    let account = part(account, "mysql");
    let learning = part(learning, "postgres");
    let content = part(content, "mongodb");
    let body = json!({ "dashboard": {
        "account": account.get("account").cloned().unwrap_or(Value::Null),
        "subscription": account.get("subscription").cloned().unwrap_or(Value::Null),
        "learning": learning,
        "content": content,
        "degraded": degraded,
        "generatedAt": iso(chrono::Utc::now()),
    } });
    Ok(Loaded {
        json: body.to_string(),
        cacheable: degraded.is_empty(),
    })
}
