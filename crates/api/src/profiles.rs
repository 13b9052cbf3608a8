//! Profiles and follows: `GET /api/profiles/{username}`, `POST`/`DELETE
//! /api/profiles/{username}/follow`, and the public profiles every other module shows next to
//! posts and comments. Identity (username, bio, image) is read from MySQL, the source of
//! truth, and cached in Redis (by exact name for profile pages, by id for authors); whom a
//! viewer follows lives in their MongoDB profile and is read per request.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use techhub_accounts::users::{self, User};
use techhub_cache::entries::keys;
use techhub_content::profiles;
use utoipa::ToSchema;

use crate::cached::CLAIM;
use crate::error::ApiError;
use crate::extract::{AuthUser, MaybeAuthUser};
use crate::write_path::{self, Change, Effects};
use crate::AppState;

#[derive(Serialize, ToSchema, Clone)]
pub struct ProfileBody {
    username: String,
    bio: Option<String>,
    image: Option<String>,
    following: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileResponse {
    profile: ProfileBody,
}

/// The public part of a user: what `GET /api/profiles/{username}` shows everyone, as cached
/// under [`keys::profile`] and [`keys::user`].
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PublicProfile {
    pub id: u64,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl From<&User> for PublicProfile {
    fn from(user: &User) -> Self {
        PublicProfile {
            id: user.id,
            username: user.username.clone(),
            bio: user.bio.clone(),
            image: user.image.clone(),
        }
    }
}

impl PublicProfile {
    /// The profile as a viewer who does (or does not) follow the user sees it.
    pub(crate) fn seen(self, following: bool) -> ProfileBody {
        ProfileBody {
            username: self.username,
            bio: self.bio,
            image: self.image,
            following,
        }
    }
}

/// How long a profile stays cached. Renames and profile edits drop it at once (the write and
/// its `user.updated` event both do).
const PROFILE_TTL: Duration = Duration::from_secs(300);

/// The user named `username` (MySQL compares names case-insensitively) and whether it came
/// from the cache. Only a lookup by the exact spelling is cached, so the two keys a rename
/// drops (old and new name) are the only ones that can hold the user.
pub(crate) async fn profile_by_name(
    state: &AppState,
    username: &str,
) -> Result<(Option<PublicProfile>, bool), ApiError> {
    let (json, hit) = crate::cached::load(state, &keys::profile(username), PROFILE_TTL, || async {
        let user = users::find_by_username(&state.stores.mysql, username).await?;
        let cacheable = user.as_ref().is_some_and(|u| u.username == username);
        let profile = user.as_ref().map(PublicProfile::from);
        let json = serde_json::to_string(&profile).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(crate::cached::Loaded { json, cacheable })
    })
    .await?;
    let profile = serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((profile, hit))
}

/// The id of the user named `username`, if there is one (cached as [`profile_by_name`]).
pub(crate) async fn user_id_by_name(
    state: &AppState,
    username: &str,
) -> Result<Option<u64>, ApiError> {
    Ok(profile_by_name(state, username).await?.0.map(|u| u.id))
}

/// Profiles of `ids` keyed by id, as a viewer who follows `followed` sees them; `known` are
/// public profiles the caller already read.
pub(crate) async fn profiles_seen_by(
    state: &AppState,
    followed: &HashSet<u64>,
    ids: &[u64],
    known: Vec<PublicProfile>,
) -> Result<HashMap<u64, ProfileBody>, ApiError> {
    let mut unique: Vec<u64> = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let found = public_profiles(state, &unique, known).await?;
    Ok(found
        .into_iter()
        .map(|u| {
            let following = followed.contains(&u.id);
            (u.id, u.seen(following))
        })
        .collect())
}

/// The public profiles of `ids` (distinct): those among `known`, then from Redis
/// ([`keys::user`], one `MGET`), the rest from MySQL in one query, then cached. Redis failing
/// means MySQL for all.
pub(crate) async fn public_profiles(
    state: &AppState,
    ids: &[u64],
    known: Vec<PublicProfile>,
) -> Result<Vec<PublicProfile>, ApiError> {
    let mut found: Vec<PublicProfile> = known.into_iter().filter(|p| ids.contains(&p.id)).collect();
    let unknown: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|p| p.id == *id))
        .collect();
    if unknown.is_empty() {
        return Ok(found);
    }
    let redis = &state.stores.redis;
    let keys: Vec<String> = unknown.iter().map(|&id| keys::user(id)).collect();
    let cached = redis.cached_many(&keys).await.unwrap_or_default();
    found.extend(
        cached
            .iter()
            .flatten()
            .filter_map(|json| serde_json::from_str::<PublicProfile>(json).ok()),
    );
    let missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|p| p.id == *id))
        .collect();
    if missing.is_empty() {
        return Ok(found);
    }
    // Leased before reading, so a profile edited meanwhile is not cached as it was.
    let missing_keys: Vec<String> = missing.iter().map(|&id| keys::user(id)).collect();
    let lease = redis.lease_many(&missing_keys, CLAIM).await.ok();
    let loaded: Vec<PublicProfile> = users::find_many(&state.stores.mysql, &missing)
        .await?
        .iter()
        .map(PublicProfile::from)
        .collect();
    if let Some(lease) = lease {
        let entries: Vec<(String, String)> = loaded
            .iter()
            .filter_map(|p| Some((keys::user(p.id), serde_json::to_string(p).ok()?)))
            .collect();
        if let Err(e) = redis.cache_leased(&lease, &entries, PROFILE_TTL).await {
            tracing::debug!(error = %e, "author profiles not cached");
        }
    }
    found.extend(loaded);
    Ok(found)
}

/// A user's public profile. The viewer-independent part is cached in Redis (`X-Cache`);
/// `following` is read per request.
#[utoipa::path(get, path = "/api/profiles/{username}", tag = "profiles",
    responses((status = 200, body = ProfileResponse,
        headers(("x-cache" = String, description = "hit or miss"))), (status = 404)))]
pub(crate) async fn get_profile(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let (user, hit) = profile_by_name(&state, &username).await?;
    let user = user.ok_or(ApiError::NotFound("profile"))?;
    // From the viewer's cached follows and bookmarks.
    let following = match viewer.0 {
        Some(v) => Box::pin(crate::articles::render::Viewer::load(&state, v.id))
            .await?
            .following
            .contains(&user.id),
        None => false,
    };
    let mut response = Json(ProfileResponse {
        profile: user.seen(following),
    })
    .into_response();
    response.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    Ok(response)
}

/// Follow a user.
#[utoipa::path(post, path = "/api/profiles/{username}/follow", tag = "profiles",
    responses((status = 200, body = ProfileResponse), (status = 401), (status = 404), (status = 422)), security(("token" = [])))]
pub(crate) async fn follow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    set_follow(&state, &auth, &username, true).await
}

/// Stop following a user.
#[utoipa::path(delete, path = "/api/profiles/{username}/follow", tag = "profiles",
    responses((status = 200, body = ProfileResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn unfollow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    set_follow(&state, &auth, &username, false).await
}

async fn set_follow(
    state: &AppState,
    auth: &AuthUser,
    username: &str,
    follow: bool,
) -> Result<Json<ProfileResponse>, ApiError> {
    let target = profile_by_name(state, username)
        .await?
        .0
        .ok_or(ApiError::NotFound("profile"))?;
    if target.id == auth.id {
        return Err(ApiError::invalid("username", "you cannot follow yourself"));
    }
    let me = users::find(&state.stores.mysql, auth.id).await?;
    let follows = async {
        profiles::set_following(&state.stores.mongo, me.id, &me.username, target.id, follow)
            .await
            .map_err(ApiError::from)
    };
    write_path::write(state, auth.id, Change::Profile, follows, |_| {
        Effects::stale(vec![keys::dashboard(me.id), keys::viewer(me.id)])
    })
    .await?;
    Ok(Json(ProfileResponse {
        profile: target.seen(follow),
    }))
}
