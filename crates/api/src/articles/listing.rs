//! Lists of articles: `GET /api/articles` (all, by tag, author or favoriter), the feed, the
//! caller's drafts and `GET /api/tags`. Which published posts, in which order, comes from this
//! server's search index (a sorted page of a large match is the one read MongoDB-compatible
//! stores cannot answer quickly at scale); their content comes from the article cache and
//! MongoDB, so a post changed since the index last saw it shows as it is now. A signed-in
//! reader's own writes that the index does not show yet are overlaid (see
//! [`crate::own_writes`]).

use axum::extract::{Query, State};
use axum::response::Response;
use axum::Json;
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use techhub_content::posts::{self, Post};
use techhub_search::ListQuery;
use utoipa::{IntoParams, ToSchema};

use super::cache::published_posts;
use super::render::{list_response, ArticlesResponse, Reader, Viewer};
use crate::error::ApiError;
use crate::extract::{AuthUser, MaybeAuthUser};
use crate::own_writes::OwnWrites;
use crate::profiles::user_id_by_name;
use crate::validate::{page_limit, page_offset};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
pub struct ArticleQuery {
    /// Only articles with this tag.
    tag: Option<String>,
    /// Only articles by this username.
    author: Option<String>,
    /// Only articles this username favorited.
    favorited: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// 0 to 10000000, default 0.
    #[param(maximum = 10_000_000)]
    offset: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<i64>,
    /// 0 to 10000000, default 0.
    #[param(maximum = 10_000_000)]
    pub(crate) offset: Option<u64>,
}

/// A page of published posts, newest first, and how many match, as `reader` sees them (their
/// own writes included): the order from this server's search index, the posts from the
/// article cache or MongoDB.
pub(crate) async fn index_page(
    state: &AppState,
    reader: Option<u64>,
    query: ListQuery,
) -> Result<(Vec<Post>, u64), ApiError> {
    let own = OwnWrites::of(state, reader).await?;
    let index = state.search.clone();
    let page =
        tokio::task::spawn_blocking(move || index.list_with(&query, &own.hidden, &own.published))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(ApiError::Internal)?;
    let ids: Vec<ObjectId> = page
        .ids
        .iter()
        .filter_map(|id| ObjectId::parse_str(id).ok())
        .collect();
    let found = published_posts(state, &ids, &page.slugs).await?;
    Ok((found, page.total as u64))
}

/// Published articles, newest first, filtered by tag, author or favoriter.
#[utoipa::path(get, path = "/api/articles", tag = "articles", params(ArticleQuery),
    responses((status = 200, body = ArticlesResponse), (status = 422)))]
pub(crate) async fn list_articles(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Query(q): Query<ArticleQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let mut filter = ListQuery {
        tag: q.tag.clone(),
        limit: page_limit(q.limit)?,
        offset: page_offset(q.offset)? as usize,
        ..Default::default()
    };
    if let Some(author) = q.author.as_deref() {
        // An unknown author matches nothing (an empty list of authors).
        filter.authors = Some(user_id_by_name(&state, author).await?.into_iter().collect());
    }
    if let Some(fan) = q.favorited.as_deref() {
        match user_id_by_name(&state, fan).await? {
            Some(id) => filter.favorited_by = Some(id),
            None => return Ok(ArticlesResponse::empty()),
        }
    }
    let reader = viewer.0.map(|v| v.id);
    let (found, total) = index_page(&state, reader, filter).await?;
    list_response(&state, Reader::of(reader), found, total).await
}

/// Articles by the users the caller follows, newest first.
#[utoipa::path(get, path = "/api/articles/feed", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn feed(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    // One profile read serves the list (whom the viewer follows) and the flags.
    let viewer = Viewer::load(&state, auth.id).await?;
    let filter = ListQuery {
        authors: Some(viewer.following.iter().copied().collect()),
        limit: page_limit(q.limit)?,
        offset: page_offset(q.offset)? as usize,
        ..Default::default()
    };
    let (found, total) = index_page(&state, Some(auth.id), filter).await?;
    list_response(&state, Reader::Loaded(&viewer), found, total).await
}

/// The caller's drafts, newest first; drafts never appear in lists or feeds.
#[utoipa::path(get, path = "/api/user/drafts", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn my_drafts(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let limit = page_limit(q.limit)? as i64;
    let offset = page_offset(q.offset)?;
    let (found, total) = posts::drafts(&state.stores.mongo, auth.id, limit, offset).await?;
    list_response(&state, Reader::Id(auth.id), found, total).await
}

#[derive(Serialize, ToSchema)]
pub struct TagsResponse {
    tags: Vec<String>,
}

/// How many tags `GET /api/tags` lists.
const TAGS_LISTED: usize = 100;

/// Tags of published articles, most used first, as this server's search index counts them:
/// counted once per commit of the index and kept in memory until the next (`X-Cache: hit`
/// when the count was already made), so the list follows every write as soon as the index
/// shows it and never outlives it. A signed-in reader also sees the tags of their own posts
/// the index does not show yet (read your writes), after the counted ones.
#[utoipa::path(get, path = "/api/tags", tag = "articles",
    responses((status = 200, body = TagsResponse), (status = 401)))]
pub(crate) async fn list_tags(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
) -> Result<Response, ApiError> {
    let (tags, hit) = match state.search.tags_counted(TAGS_LISTED) {
        Some(tags) => (tags, true),
        None => {
            let index = state.search.clone();
            let tags = tokio::task::spawn_blocking(move || index.count_tags(TAGS_LISTED))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?
                .map_err(ApiError::Internal)?;
            (tags, false)
        }
    };
    let own = OwnWrites::of(&state, viewer.0.map(|u| u.id)).await?;
    let mut names: Vec<String> = tags.iter().map(|(tag, _)| tag.clone()).collect();
    for post in &own.published {
        for tag in &post.tags {
            if !names.contains(tag) {
                names.push(tag.clone());
            }
        }
    }
    let json = serde_json::to_string(&TagsResponse { tags: names })
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(crate::cached::answer((
        json,
        hit && own.published.is_empty(),
    )))
}
