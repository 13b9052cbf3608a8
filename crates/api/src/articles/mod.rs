//! Articles (TechHub posts in RealWorld's shape) on MongoDB: this module reads, creates,
//! changes, deletes and favorites one article; [`listing`] serves the lists, the feed, drafts
//! and tags; [`comments`] and [`bookmarks`] their resources. Request bodies are checked in
//! [`input`], answers rendered in [`render`], published posts cached in [`cache`]. Every
//! write goes through [`crate::write_path`].

pub mod bookmarks;
pub(crate) mod cache;
pub use cache::refresh_counted;
pub mod comments;
pub mod input;
pub mod listing;
pub mod render;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use techhub_content::favorites;
use techhub_content::posts::{self, Post, Refusal};
use techhub_core::domain::PostStatus;

use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser, MaybeAuthUser};
use crate::write_path::{self, post_entries, Change, Effects};
use crate::AppState;
use input::{NewArticleRequest, UpdateArticleRequest};
use render::{article_response, render_articles, ArticleResponse, Reader, Shape, Viewer};

/// The post `slug` (any status but deleted), or 404.
pub(crate) async fn post_or_404(state: &AppState, slug: &str) -> Result<Post, ApiError> {
    posts::by_slug(&state.stores.mongo, slug)
        .await?
        .ok_or(ApiError::NotFound("article"))
}

/// The post `slug` (any status but deleted) from the article cache (drafts from MongoDB),
/// or 404: for writes that need only its id, slug and author.
pub(crate) async fn cached_post_or_404(state: &AppState, slug: &str) -> Result<Post, ApiError> {
    cache::article_by_slug(state, slug)
        .await?
        .article
        .post
        .ok_or(ApiError::NotFound("article"))
}

/// The published post `slug`, or 404.
pub(crate) async fn published_or_404(state: &AppState, slug: &str) -> Result<Post, ApiError> {
    Some(post_or_404(state, slug).await?)
        .filter(|p| p.status.is_published())
        .ok_or(ApiError::NotFound("article"))
}

/// Why the content store refused to change `what`, as the API says it.
pub(crate) fn refused(r: Refusal, what: &'static str) -> ApiError {
    match r {
        Refusal::NotFound => ApiError::NotFound(what),
        Refusal::NotYours => ApiError::Forbidden(format!("only the author may change this {what}")),
        Refusal::Stale { current } => ApiError::Conflict(
            "version",
            format!("the {what} changed since you read it; the current version is {current}"),
        ),
    }
}

/// One article, with its body.
#[utoipa::path(get, path = "/api/articles/{slug}", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 404)))]
pub(crate) async fn get_article(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    // Published posts come from the article cache with their body already rendered; drafts
    // are never cached and only their author sees them. Viewer flags and the author's profile
    // (itself cached by id) are read per request.
    let found = cache::article_by_slug(&state, &slug).await?;
    let post = found.article.post.ok_or(ApiError::NotFound("article"))?;
    let viewer = viewer.0.map(|v| v.id);
    if !post.status.is_published() && viewer != Some(post.author_id) {
        return Err(ApiError::NotFound("article"));
    }
    if post.status.is_published() {
        // Gathered here, pushed to Redis in batches, flushed to MongoDB from there.
        state.stores.redis.count_view(&post.id.to_hex());
        state.article_authors.remember(&slug, post.author_id);
    }
    let full = Shape::Full {
        html: found.article.body_html,
    };
    let reader = Reader::of(viewer);
    let article = render_articles(&state, reader, vec![post], full, found.author)
        .await?
        .remove(0);
    let mut response = Json(ArticleResponse { article }).into_response();
    response.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if found.hit { "hit" } else { "miss" }),
    );
    Ok(response)
}

/// Publish an article.
#[utoipa::path(post, path = "/api/articles", tag = "articles", request_body = NewArticleRequest,
    responses((status = 201, body = ArticleResponse), (status = 401), (status = 422)), security(("token" = [])))]
pub(crate) async fn create_article(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewArticleRequest>,
) -> Result<(StatusCode, Json<ArticleResponse>), ApiError> {
    let new = req.article.parse(auth.id)?;
    crate::policy::may_write_post(&state, auth.id, new.status == PostStatus::Draft).await?;
    let create = async {
        let post = posts::create(&state.stores.mongo, new).await?;
        // This server's index takes it as written, not read back.
        state.search.created(&post, post.created_at);
        Ok(post)
    };
    let post = write_path::write(&state, auth.id, Change::PostCreated, create, |p: &Post| {
        Effects::post(p, post_entries(p.author_id, &p.slug))
    })
    .await?;
    // Rendered as anyone sees it: nobody has favorited or bookmarked a post this new, and its
    // author cannot follow themselves, so the viewer's flags need no reads.
    Ok((
        StatusCode::CREATED,
        article_response(&state, Reader::Anonymous, post).await?,
    ))
}

/// Change an article (its author only).
#[utoipa::path(put, path = "/api/articles/{slug}", tag = "articles", request_body = UpdateArticleRequest,
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 403), (status = 404), (status = 422)), security(("token" = [])))]
pub(crate) async fn update_article(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    ApiJson(req): ApiJson<UpdateArticleRequest>,
) -> Result<Json<ArticleResponse>, ApiError> {
    let changes = req.article.parse()?;
    let to_draft = changes.status == Some(PostStatus::Draft);
    crate::policy::may_write_post(&state, auth.id, to_draft).await?;
    let update = async {
        posts::update(&state.stores.mongo, &slug, auth.id, changes)
            .await?
            .map_err(|r| refused(r, "article"))
    };
    let post = write_path::write(&state, auth.id, Change::Post, update, |p: &Post| {
        Effects::post(p, post_entries(p.author_id, &p.slug))
    })
    .await?;
    article_response(&state, Reader::Id(auth.id), post).await
}

/// Delete an article (its author only).
#[utoipa::path(delete, path = "/api/articles/{slug}", tag = "articles",
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("token" = [])))]
pub(crate) async fn delete_article(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let delete = async {
        posts::delete(&state.stores.mongo, &slug, auth.id)
            .await?
            .map_err(|r| refused(r, "article"))
    };
    write_path::write(&state, auth.id, Change::Post, delete, |(id, seq)| {
        Effects::post_id(id.to_hex(), *seq, post_entries(auth.id, &slug))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Favorite an article.
#[utoipa::path(post, path = "/api/articles/{slug}/favorite", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn favorite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &auth, &slug, true).await
}

/// Remove a favorite.
#[utoipa::path(delete, path = "/api/articles/{slug}/favorite", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
pub(crate) async fn unfavorite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &auth, &slug, false).await
}

async fn set_favorite(
    state: &AppState,
    auth: &AuthUser,
    slug: &str,
    on: bool,
) -> Result<Json<ArticleResponse>, ApiError> {
    // The cached copy comes with its rendered body and its author's profile: the answer
    // needs neither a second render nor a second read.
    let found = cache::article_by_slug(state, slug).await?;
    let post = found.article.post.ok_or(ApiError::NotFound("article"))?;
    let mongo = &state.stores.mongo;
    // The click, and the favorite as last folded, read after the copy of the post: the copy
    // is then at most one count of this user's favorite behind, which `Favorite::counted_in`
    // allows for (the post itself is not written).
    let change = async {
        let (click, folded) = tokio::try_join!(
            favorites::click(mongo, &post, auth.id, on),
            favorites::one(mongo, post.id, auth.id),
        )?;
        Ok::<_, ApiError>((click, folded.clicked(Some(click))))
    };
    let write = write_path::write(state, auth.id, Change::Favorite, change, |(click, f)| {
        // The change number from which the post counts the writer's favorite as it is: the
        // next one, when the relay has not folded it yet.
        let seq = post.change_seq.max(f.counted_seq) + i64::from(f.counted != f.on);
        Effects::favorite(post.id.to_hex(), seq, *click)
    });
    // The reader's follows and bookmarks (for the answer's flags) are read meanwhile.
    let ((_, favorite), viewer) = tokio::try_join!(write, Viewer::load(state, auth.id))?;
    let reader = Reader::Favoriting {
        viewer: &viewer,
        favorite,
    };
    let full = Shape::Full {
        html: found.article.body_html,
    };
    let article = render_articles(state, reader, vec![post], full, found.author)
        .await?
        .remove(0);
    Ok(Json(ArticleResponse { article }))
}
