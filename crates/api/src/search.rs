//! `GET /api/search`: ranked full-text search over published posts, from this server's
//! Tantivy index; the posts themselves come from the article cache or MongoDB (as lists'
//! do), so counters and authors are current and a post deleted a moment ago is left out.

use axum::extract::{Query, State};
use axum::Json;
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use techhub_content::posts::DIFFICULTIES;
use techhub_search::SearchQuery;
use utoipa::{IntoParams, ToSchema};

use crate::articles::cache::published_posts;
use crate::articles::render::{render_articles, ArticleBody, Reader, Shape};
use crate::error::ApiError;
use crate::extract::MaybeAuthUser;
use crate::profiles::user_id_by_name;
use crate::validate::{one_of, page_limit};
use crate::AppState;

/// Longest query accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;
/// Deepest offset accepted (ranking cost grows with it).
const MAX_OFFSET: u64 = 10_000;

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// The words to find (title counts 10, tags 5, body 1; words of five letters or more
    /// tolerate one typo).
    q: Option<String>,
    /// Only posts with this tag.
    tag: Option<String>,
    /// Only posts of this difficulty: beginner, intermediate or advanced.
    difficulty: Option<String>,
    /// Only posts by this username.
    author: Option<String>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    /// 0 to 10000.
    offset: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Highlights {
    /// The title, HTML-escaped, matched words in `<mark>`.
    title: String,
    /// A passage of the body around the best matches, HTML-escaped, matched words in `<mark>`.
    body: String,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    /// The article as lists show it (no body).
    article: ArticleBody,
    /// Relevance (BM25 with field boosts); higher is better.
    score: f32,
    highlights: Highlights,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    results: Vec<SearchResult>,
    /// How many posts match in all.
    results_count: u64,
}

/// Search published posts, best match first.
#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 422)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let text = p.q.as_deref().unwrap_or("").trim().to_string();
    if text.is_empty() {
        return Err(ApiError::invalid("q", "can't be blank"));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(
            "q",
            "is too long (maximum is 200 characters)",
        ));
    }
    if !text.chars().any(char::is_alphanumeric) {
        return Err(ApiError::invalid("q", "must contain a word"));
    }
    let limit = page_limit(p.limit)?;
    let offset = p.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid("offset", "must be at most 10000"));
    }
    let difficulty = match p.difficulty.as_deref() {
        Some(d) => {
            Some(one_of("difficulty", d, &DIFFICULTIES).map_err(|e| ApiError::Invalid(vec![e]))?)
        }
        None => None,
    };
    let author_id = match p.author.as_deref() {
        Some(name) => match user_id_by_name(&state, name).await? {
            Some(id) => Some(id),
            None => {
                return Ok(Json(SearchResponse {
                    results: Vec::new(),
                    results_count: 0,
                }))
            }
        },
        None => None,
    };
    let query = SearchQuery {
        text,
        tag: p.tag.filter(|t| !t.is_empty()),
        difficulty,
        author_id,
        limit,
        offset: offset as usize,
    };
    let reader = viewer.0.map(|v| v.id);
    let own = crate::own_writes::OwnWrites::of(&state, reader).await?;
    let index = state.search.clone();
    let found =
        tokio::task::spawn_blocking(move || index.search_with(&query, &own.hidden, &own.published))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(ApiError::Internal)?;
    let (ids, slugs): (Vec<ObjectId>, Vec<String>) = found
        .hits
        .iter()
        .filter_map(|h| Some((ObjectId::parse_str(&h.id).ok()?, h.slug.clone())))
        .unzip();
    let posts = published_posts(&state, &ids, &slugs).await?;
    let post_ids: Vec<ObjectId> = posts.iter().map(|p| p.id).collect();
    let reader = Reader::of(reader);
    let articles = render_articles(&state, reader, posts, Shape::Listed, Vec::new()).await?;
    let results = post_ids
        .into_iter()
        .zip(articles)
        .filter_map(|(id, article)| {
            let hit = found.hits.iter().find(|h| h.id == id.to_hex())?;
            Some(SearchResult {
                article,
                score: hit.score,
                highlights: Highlights {
                    title: hit.title_html.clone(),
                    body: hit.body_html.clone(),
                },
            })
        })
        .collect();
    Ok(Json(SearchResponse {
        results,
        results_count: found.total as u64,
    }))
}
