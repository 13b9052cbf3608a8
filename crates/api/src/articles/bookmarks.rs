//! TechHub bookmarks: `POST`/`DELETE /api/articles/{slug}/bookmark` and `GET
//! /api/user/bookmarks`. A bookmark lives in the reader's MongoDB profile; the post's
//! `engagement.bookmarks` moves only when the profile really changed, so it stays exact under
//! repeated or concurrent requests.

use axum::extract::{Path, Query, State};
use axum::Json;
use techhub_accounts::users;
use techhub_cache::entries::keys;
use techhub_content::posts::{self, Counter, Post};
use techhub_content::profiles;

use super::listing::FeedQuery;
use super::render::{article_response, list_response, ArticleResponse, ArticlesResponse, Reader};
use super::{post_or_404, published_or_404};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::validate::{page_limit, page_offset};
use crate::write_path::{self, Change, Effects};
use crate::AppState;

/// Bookmark an article (TechHub).
#[utoipa::path(post, path = "/api/articles/{slug}/bookmark", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn bookmark(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_bookmark(&state, &auth, &slug, true).await
}

/// Remove a bookmark (TechHub).
#[utoipa::path(delete, path = "/api/articles/{slug}/bookmark", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn unbookmark(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_bookmark(&state, &auth, &slug, false).await
}

async fn set_bookmark(
    state: &AppState,
    auth: &AuthUser,
    slug: &str,
    on: bool,
) -> Result<Json<ArticleResponse>, ApiError> {
    let post = published_or_404(state, slug).await?;
    let me = users::find(&state.stores.mysql, auth.id).await?;
    let mongo = &state.stores.mongo;
    let change = async {
        let changed = profiles::set_bookmark(mongo, me.id, &me.username, post.id, on).await?;
        if changed {
            let delta = if on { 1 } else { -1 };
            posts::add_to_counter(mongo, post.id, Counter::Bookmarks, delta).await?;
        }
        Ok(changed)
    };
    write_path::write(state, auth.id, Change::Profile, change, |changed| {
        Effects::stale(if *changed {
            vec![
                keys::dashboard(me.id),
                keys::article(slug),
                keys::viewer(me.id),
            ]
        } else {
            Vec::new()
        })
    })
    .await?;
    article_response(state, Reader::Id(auth.id), post_or_404(state, slug).await?).await
}

/// The caller's bookmarked articles, most recently bookmarked first.
#[utoipa::path(get, path = "/api/user/bookmarks", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn my_bookmarks(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let limit = page_limit(q.limit)?;
    let offset = page_offset(q.offset)?;
    let mut ids = profiles::bookmarks(&state.stores.mongo, auth.id).await?;
    ids.reverse();
    let found = posts::by_ids(&state.stores.mongo, &ids, false).await?;
    let total = found.len() as u64;
    let window: Vec<Post> = found
        .into_iter()
        .skip(offset as usize)
        .take(limit)
        .collect();
    list_response(&state, Reader::Id(auth.id), window, total).await
}
