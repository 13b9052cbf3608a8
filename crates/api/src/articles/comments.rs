//! Comments on articles: `GET`/`POST /api/articles/{slug}/comments` and `DELETE
//! /api/articles/{slug}/comments/{id}` (its author only). A new comment is one insert that
//! carries its own `comment.created` event; the post's `engagement.comments` moves when the
//! content relay delivers it (and drops the article's cache entry then), so until that the
//! article and its cache entry are as they were.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use techhub_cache::entries::keys;
use techhub_content::comments::{self, Comment, MAX_COMMENT_CHARS};
use utoipa::ToSchema;

use super::render::{time, Viewer};
use super::{cached_post_or_404, post_or_404, refused};
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser, MaybeAuthUser};
use crate::profiles::{profiles_seen_by, ProfileBody};
use crate::validate::text;
use crate::write_path::{self, Change, Effects};
use crate::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentBody {
    id: String,
    created_at: String,
    updated_at: String,
    body: String,
    author: ProfileBody,
}

#[derive(Serialize, ToSchema)]
pub struct CommentResponse {
    comment: CommentBody,
}

#[derive(Serialize, ToSchema)]
pub struct CommentsResponse {
    comments: Vec<CommentBody>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewCommentRequest {
    comment: NewCommentBody,
}

#[derive(Deserialize, ToSchema)]
pub struct NewCommentBody {
    body: Option<String>,
}

/// Comments with their authors as `viewer` sees them.
async fn render_comments(
    state: &AppState,
    viewer: Option<u64>,
    found: Vec<Comment>,
) -> Result<Vec<CommentBody>, ApiError> {
    let authors: Vec<u64> = found.iter().map(|c| c.author_id).collect();
    // Whom the viewer follows: from their cached follows and bookmarks.
    let followed: HashSet<u64> = match viewer {
        Some(v) => Box::pin(Viewer::load(state, v)).await?.following,
        None => HashSet::new(),
    };
    let profiles = profiles_seen_by(state, &followed, &authors, Vec::new()).await?;
    found
        .into_iter()
        .map(|c| {
            let author = profiles.get(&c.author_id).cloned().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "comment {} has no author {}",
                    c.id,
                    c.author_id
                ))
            })?;
            Ok(CommentBody {
                id: c.id.to_hex(),
                created_at: time(c.created_at),
                updated_at: time(c.updated_at),
                body: c.body,
                author,
            })
        })
        .collect()
}

/// An article's comments, oldest first.
#[utoipa::path(get, path = "/api/articles/{slug}/comments", tag = "comments",
    responses((status = 200, body = CommentsResponse), (status = 404)))]
pub(crate) async fn list_comments(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(slug): Path<String>,
) -> Result<Json<CommentsResponse>, ApiError> {
    let post = cached_post_or_404(&state, &slug).await?;
    let found = comments::for_post(&state.stores.mongo, post.id).await?;
    Ok(Json(CommentsResponse {
        comments: render_comments(&state, viewer.0.map(|v| v.id), found).await?,
    }))
}

/// Comment on an article.
#[utoipa::path(post, path = "/api/articles/{slug}/comments", tag = "comments", request_body = NewCommentRequest,
    responses((status = 200, body = CommentResponse), (status = 401), (status = 404), (status = 422)), security(("token" = [])))]
pub(crate) async fn add_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    ApiJson(req): ApiJson<NewCommentRequest>,
) -> Result<Json<CommentResponse>, ApiError> {
    let raw = req.comment.body.as_deref().unwrap_or("");
    let body = text("body", raw, 1, MAX_COMMENT_CHARS as usize)?;
    let post = cached_post_or_404(&state, &slug).await?;
    let mongo = &state.stores.mongo;
    let add = async {
        let comment =
            comments::add(mongo, post.id, &post.slug, post.author_id, auth.id, &body).await?;
        Ok(comment)
    };
    // Nothing cached shows the comment before the relay counts it.
    let comment = write_path::write(&state, auth.id, Change::CommentAdded, add, |_| {
        Effects::stale(Vec::new())
    })
    .await?;
    let comment = render_comments(&state, Some(auth.id), vec![comment])
        .await?
        .remove(0);
    Ok(Json(CommentResponse { comment }))
}

/// Delete a comment (its author only).
#[utoipa::path(delete, path = "/api/articles/{slug}/comments/{id}", tag = "comments",
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("token" = [])))]
pub(crate) async fn delete_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let post = post_or_404(&state, &slug).await?;
    let id = ObjectId::parse_str(&id).map_err(|_| ApiError::NotFound("comment"))?;
    let delete = async {
        comments::delete(&state.stores.mongo, post.id, id, auth.id)
            .await?
            .map_err(|r| refused(r, "comment"))
    };
    write_path::write(&state, auth.id, Change::CommentRemoved, delete, |_| {
        Effects::stale(vec![keys::article(&slug)])
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
