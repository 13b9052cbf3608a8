//! `GET /api/dashboard`: one request fans out concurrently to MySQL (account, subscription),
//! PostgreSQL (analytics, sessions this week) and MongoDB (profile, five recent published
//! posts, post count), and combines them. A store that fails or is slow (each read is bounded
//! by `TECHHUB_QUERY_TIMEOUT_MS`) leaves its part `null` and is named in `degraded`; the answer
//! is still 200. Complete answers are cached in Redis for 5 minutes (`X-Cache`); posts,
//! sessions, profile and subscription changes drop the entry.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use techhub_accounts::{billing, users};
use techhub_cache::entries::keys;
use techhub_content::profiles;
use techhub_core::plans::{BillingCycle, Entitlements, Plan};
use utoipa::ToSchema;

use crate::cached::{self, Loaded};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::{iso, AppState};

/// How long a dashboard stays cached.
pub const DASHBOARD_TTL: Duration = Duration::from_secs(300);

#[derive(Serialize, ToSchema)]
pub struct DashboardResponse {
    dashboard: DashboardBody,
}

/// The dashboard. A part whose store failed or was too slow is `null`, and that store is
/// listed in `degraded`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardBody {
    /// From MySQL.
    #[schema(required = true)]
    account: Option<DashboardAccount>,
    /// From MySQL.
    #[schema(required = true)]
    subscription: Option<DashboardSubscription>,
    /// From PostgreSQL.
    #[schema(required = true)]
    learning: Option<DashboardLearning>,
    /// From MongoDB (and the search index).
    #[schema(required = true)]
    content: Option<DashboardContent>,
    /// The stores whose part is `null` (empty when the answer is complete; only complete
    /// answers are cached).
    degraded: Vec<DashboardStore>,
    /// When this answer was put together (a cached answer keeps its time).
    generated_at: String,
}

/// A store a dashboard part comes from.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DashboardStore {
    Mysql,
    Postgres,
    Mongodb,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardAccount {
    username: String,
    email: String,
    #[schema(required = true)]
    bio: Option<String>,
    #[schema(required = true)]
    image: Option<String>,
    email_verified: bool,
    /// `active`, `suspended` or `deleted`.
    #[schema(example = "active")]
    status: String,
    /// `user`, or `admin` for those who may read `/api/admin/reports/*`.
    #[schema(example = "user")]
    role: String,
    #[schema(example = "UTC")]
    timezone: String,
    member_since: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSubscription {
    plan: Plan,
    #[schema(example = "active")]
    status: String,
    billing_cycle: BillingCycle,
    #[schema(example = "12.00")]
    price: String,
    #[schema(example = "USD")]
    currency: String,
    auto_renew: bool,
    #[schema(required = true)]
    current_period_end: Option<String>,
    entitlements: Entitlements,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardLearning {
    total_points: i64,
    streak_days: i32,
    longest_streak: i32,
    /// 0 to 100 (see the engagement score in docs/api.md).
    engagement_score: f64,
    /// Per technology studied.
    #[schema(value_type = HashMap<String, TechnologyProgress>)]
    learning_progress: serde_json::Value,
    /// Activities counted so far, by kind (`post.created`, `comment.created`, `post.liked`, …).
    #[schema(value_type = HashMap<String, i64>)]
    activity: serde_json::Value,
    #[schema(required = true)]
    last_activity: Option<String>,
    sessions_this_week: i64,
    minutes_this_week: i64,
}

/// What a user studied of one technology, over all their sessions.
#[derive(Serialize, ToSchema)]
pub struct TechnologyProgress {
    minutes: i64,
    sessions: i64,
    /// Sessions completed (100 %).
    completed: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardContent {
    /// How many users they follow.
    following: u64,
    /// How many posts they bookmarked.
    bookmarks: u64,
    /// Their five newest published posts.
    recent_posts: Vec<DashboardPost>,
    /// Their published posts.
    total_posts: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardPost {
    slug: String,
    title: String,
    favorites_count: i64,
    views: i64,
    comments: i64,
    #[schema(required = true)]
    published_at: Option<String>,
}

/// The caller's dashboard across the three databases.
#[utoipa::path(get, path = "/api/dashboard", tag = "dashboard",
    responses((status = 200, body = DashboardResponse, description = "A part whose store failed is null and the store is listed in `degraded`.",
        headers(("x-cache" = String, description = "hit or miss"))),
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
            let account = DashboardAccount {
                username: user.username,
                email: user.email,
                bio: user.bio,
                image: user.image,
                email_verified: user.email_verified,
                status: user.status,
                role: user.role,
                timezone: user.timezone,
                member_since: iso(user.created_at),
            };
            let subscription = DashboardSubscription {
                entitlements: sub.plan.entitlements(),
                plan: sub.plan,
                status: sub.status,
                billing_cycle: sub.billing_cycle,
                price: sub.price.to_string(),
                currency: sub.currency,
                auto_renew: sub.auto_renew,
                current_period_end: sub.current_period_end.map(iso),
            };
            Ok::<_, ApiError>((account, subscription))
        },
        async {
            let s = techhub_learning::sessions::summary(pg, user_id).await?;
            Ok::<_, ApiError>(DashboardLearning {
                total_points: s.total_points,
                streak_days: s.streak_days,
                longest_streak: s.longest_streak,
                engagement_score: s.engagement_score,
                learning_progress: s.learning_progress,
                activity: s.activity_summary,
                last_activity: s.last_activity.map(iso),
                sessions_this_week: s.sessions_this_week,
                minutes_this_week: s.minutes_this_week,
            })
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
            let recent_posts = recent
                .iter()
                .map(|p| DashboardPost {
                    slug: p.slug.clone(),
                    title: p.title.clone(),
                    favorites_count: p.favorites_count(),
                    views: p.engagement.views,
                    comments: p.engagement.comments,
                    published_at: p.published_at.map(crate::articles::render::time),
                })
                .collect();
            Ok::<_, ApiError>(DashboardContent {
                following: following.len() as u64,
                bookmarks: bookmarks.len() as u64,
                recent_posts,
                total_posts: total,
            })
        },
    );
    let mut degraded = Vec::new();
    let (account, subscription) = part(account, DashboardStore::Mysql, &mut degraded).unzip();
    let learning = part(learning, DashboardStore::Postgres, &mut degraded);
    let content = part(content, DashboardStore::Mongodb, &mut degraded);
    let body = DashboardResponse {
        dashboard: DashboardBody {
            account,
            subscription,
            learning,
            content,
            degraded,
            generated_at: iso(chrono::Utc::now()),
        },
    };
    Ok(Loaded {
        json: serde_json::to_string(&body).map_err(|e| ApiError::Internal(e.into()))?,
        cacheable: body.dashboard.degraded.is_empty(),
    })
}

/// The part `result`, or `None` with `store` listed in `degraded`.
fn part<T>(
    result: Result<T, ApiError>,
    store: DashboardStore,
    degraded: &mut Vec<DashboardStore>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(?store, error = %e, "dashboard part missing");
            degraded.push(store);
            None
        }
    }
}
