//! The RealWorld content API on MongoDB: profiles and follows, articles (list, feed, get,
//! create, update, delete), favorites, comments and tags. Identity (username, bio, image) is
//! read from MySQL, the source of truth, so a content read never depends on how far the
//! profile projection has got; follows, posts and comments live in MongoDB.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use techhub_accounts::users::{self, User};
use techhub_cache::entries::keys;
use techhub_content::comments::{self, Comment};
use techhub_content::posts::{self, NewPost, Post, PostChanges, Refusal};
use techhub_content::profiles;
use techhub_content::schema::{MAX_BODY_CHARS, MAX_TAGS, MAX_TITLE_CHARS};
use techhub_core::domain::FieldError;
use techhub_search::ListQuery;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser, MaybeAuthUser};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_profile))
        .routes(routes!(follow, unfollow))
        .routes(routes!(list_articles, create_article))
        .routes(routes!(feed))
        .routes(routes!(get_article, update_article, delete_article))
        .routes(routes!(favorite, unfavorite))
        .routes(routes!(list_comments, add_comment))
        .routes(routes!(delete_comment))
        .routes(routes!(list_tags))
        .routes(routes!(my_drafts))
        .routes(routes!(bookmark, unbookmark))
        .routes(routes!(my_bookmarks))
}

/// Longest article description accepted, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest tag accepted, in characters.
const MAX_TAG_CHARS: usize = 50;
/// Longest comment accepted, in characters.
const MAX_COMMENT_CHARS: usize = 10_000;

pub(crate) fn time(t: mongodb::bson::DateTime) -> String {
    crate::iso(chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default())
}

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
/// under [`keys::profile`].
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
    fn seen(self, following: bool) -> ProfileBody {
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
const PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

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

/// Profiles of `ids` as a viewer who follows `followed` sees them; `known` are public
/// profiles the caller already read.
async fn profiles_for(
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
async fn public_profiles(
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
    let loaded: Vec<PublicProfile> = users::find_many(&state.stores.mysql, &missing)
        .await?
        .iter()
        .map(PublicProfile::from)
        .collect();
    let entries: Vec<(String, String)> = loaded
        .iter()
        .filter_map(|p| Some((keys::user(p.id), serde_json::to_string(p).ok()?)))
        .collect();
    if let Err(e) = redis.cache_many(&entries, PROFILE_TTL).await {
        tracing::debug!(error = %e, "author profiles not cached");
    }
    found.extend(loaded);
    Ok(found)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleBody {
    slug: String,
    title: String,
    description: String,
    /// Left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    tag_list: Vec<String>,
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: i64,
    author: ProfileBody,
    /// TechHub: whether the caller bookmarked it.
    bookmarked: bool,
    /// TechHub: the body rendered from Markdown and sanitised (no scripts, handlers or
    /// `javascript:` links). Only where `body` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    body_html: Option<String>,
    /// TechHub: `draft`, `published` or `archived`.
    status: String,
    categories: Vec<String>,
    difficulty: Option<String>,
    /// Minutes, at 200 words a minute.
    estimated_read_time: i64,
    metadata: MetadataBody,
    engagement: EngagementBody,
    published_at: Option<String>,
    /// Increases with every change; send it back in an update to detect concurrent edits.
    version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MetadataBody {
    seo: SeoBody,
}

#[derive(Serialize, ToSchema)]
pub struct SeoBody {
    title: String,
    description: String,
    keywords: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EngagementBody {
    views: i64,
    likes: i64,
    comments: i64,
    bookmarks: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleResponse {
    article: ArticleBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesResponse {
    articles: Vec<ArticleBody>,
    articles_count: u64,
}

/// A signed-in viewer, with whom they follow and what they bookmarked (one profile read).
pub(crate) struct Viewer {
    pub id: u64,
    pub following: HashSet<u64>,
    pub bookmarks: HashSet<ObjectId>,
}

impl Viewer {
    pub(crate) async fn load(state: &AppState, id: u64) -> Result<Viewer, ApiError> {
        let (following, bookmarks) =
            profiles::following_and_bookmarks(&state.stores.mongo, id).await?;
        Ok(Viewer {
            id,
            following: following.into_iter().collect(),
            bookmarks: bookmarks.into_iter().collect(),
        })
    }
}

/// Renders posts for `viewer`: authors (cached), and for a signed-in viewer the following
/// and bookmark flags (one profile read) and favorites (one read), concurrently.
pub(crate) async fn articles_for(
    state: &AppState,
    viewer: Option<u64>,
    posts: Vec<Post>,
    with_body: bool,
) -> Result<Vec<ArticleBody>, ApiError> {
    let viewer = match viewer {
        Some(id) if !posts.is_empty() => Looking::Id(id),
        _ => Looking::Nobody,
    };
    articles_rendered(state, viewer, posts, with_body, None, Vec::new()).await
}

/// Who an article is rendered for.
#[derive(Clone, Copy)]
pub(crate) enum Looking<'a> {
    Nobody,
    /// A signed-in viewer whose profile is still to be read.
    Id(u64),
    Loaded(&'a Viewer),
}

/// [`articles_for`] for a viewer already loaded, with the body's HTML already rendered (for
/// the one post a cached article holds) instead of rendering it here, and `known` public
/// profiles already read.
async fn articles_rendered(
    state: &AppState,
    viewer: Looking<'_>,
    posts: Vec<Post>,
    with_body: bool,
    mut rendered: Option<String>,
    known: Vec<PublicProfile>,
) -> Result<Vec<ArticleBody>, ApiError> {
    let mut authors: Vec<u64> = posts.iter().map(|p| p.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    let ids: Vec<ObjectId> = posts.iter().map(|p| p.id).collect();
    let mongo = &state.stores.mongo;
    let viewer_id = match viewer {
        Looking::Nobody => None,
        Looking::Id(id) => Some(id),
        Looking::Loaded(v) => Some(v.id),
    };
    // Authors, favorites and (when not yet read) the viewer's profile, concurrently.
    let (found, favorited, loaded) = tokio::try_join!(
        public_profiles(state, &authors, known),
        async {
            match viewer_id {
                Some(v) => Ok(posts::favorited_among(mongo, &ids, v).await?),
                None => Ok::<_, ApiError>(HashSet::new()),
            }
        },
        async {
            match viewer {
                Looking::Id(id) => Ok(Some(Viewer::load(state, id).await?)),
                _ => Ok::<_, ApiError>(None),
            }
        },
    )?;
    let viewer = match viewer {
        Looking::Loaded(v) => Some(v),
        _ => loaded.as_ref(),
    };
    let (no_one, no_bookmarks) = (HashSet::new(), HashSet::new());
    let followed = viewer.map_or(&no_one, |v| &v.following);
    let bookmarked = viewer.map_or(&no_bookmarks, |v| &v.bookmarks);
    let profiles: HashMap<u64, ProfileBody> = found
        .into_iter()
        .map(|u| {
            let following = followed.contains(&u.id);
            (u.id, u.seen(following))
        })
        .collect();
    posts
        .into_iter()
        .map(|p| {
            let author = profiles.get(&p.author_id).cloned().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "post {} has no author {}",
                    p.slug,
                    p.author_id
                ))
            })?;
            Ok(ArticleBody {
                favorited: favorited.contains(&p.id),
                bookmarked: bookmarked.contains(&p.id),
                body_html: with_body.then(|| {
                    rendered
                        .take()
                        .unwrap_or_else(|| techhub_content::render::markdown_to_safe_html(&p.body))
                }),
                status: p.status,
                categories: p.categories,
                difficulty: p.difficulty,
                estimated_read_time: p.estimated_read_time,
                metadata: MetadataBody {
                    seo: SeoBody {
                        title: p.seo.title,
                        description: p.seo.description,
                        keywords: p.seo.keywords,
                    },
                },
                engagement: EngagementBody {
                    views: p.engagement.views,
                    likes: p.engagement.likes,
                    comments: p.engagement.comments,
                    bookmarks: p.engagement.bookmarks,
                },
                published_at: p.published_at.map(time),
                version: p.version,
                slug: p.slug,
                title: p.title,
                description: p.description,
                body: with_body.then_some(p.body),
                tag_list: p.tags,
                created_at: time(p.created_at),
                updated_at: time(p.updated_at),
                favorites_count: p.favorites_count,
                author,
            })
        })
        .collect()
}

async fn one_article(
    state: &AppState,
    viewer: Option<u64>,
    post: Post,
) -> Result<Json<ArticleResponse>, ApiError> {
    let article = articles_for(state, viewer, vec![post], true)
        .await?
        .remove(0);
    Ok(Json(ArticleResponse { article }))
}

async fn post_or_404(state: &AppState, slug: &str) -> Result<Post, ApiError> {
    posts::by_slug(&state.stores.mongo, slug)
        .await?
        .ok_or(ApiError::NotFound("article"))
}

fn refused(r: Refusal, what: &'static str) -> ApiError {
    match r {
        Refusal::NotFound => ApiError::NotFound(what),
        Refusal::NotYours => ApiError::Forbidden(format!("only the author may change this {what}")),
        Refusal::Stale { current } => ApiError::Conflict(
            "version",
            format!("the {what} changed since you read it; the current version is {current}"),
        ),
    }
}

async fn user_by_name(state: &AppState, username: &str) -> Result<PublicProfile, ApiError> {
    profile_by_name(state, username)
        .await?
        .0
        .ok_or(ApiError::NotFound("profile"))
}

/// A user's public profile. The viewer-independent part is cached in Redis (`X-Cache`);
/// `following` is read per request.
#[utoipa::path(get, path = "/api/profiles/{username}", tag = "profiles",
    responses((status = 200, body = ProfileResponse,
        headers(("x-cache" = String, description = "hit or miss"))), (status = 404)))]
async fn get_profile(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(username): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let (user, hit) = profile_by_name(&state, &username).await?;
    let user = user.ok_or(ApiError::NotFound("profile"))?;
    let following = match viewer.0 {
        Some(v) => profiles::following(&state.stores.mongo, v.id)
            .await?
            .contains(&user.id),
        None => false,
    };
    let mut response = Json(ProfileResponse {
        profile: user.seen(following),
    })
    .into_response();
    response.headers_mut().insert(
        "x-cache",
        axum::http::HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    Ok(response)
}

async fn set_follow(
    state: &AppState,
    auth: &AuthUser,
    username: &str,
    follow: bool,
) -> Result<Json<ProfileResponse>, ApiError> {
    let target = user_by_name(state, username).await?;
    if target.id == auth.id {
        return Err(ApiError::invalid("username", "you cannot follow yourself"));
    }
    let me = users::find(&state.stores.mysql, auth.id).await?;
    profiles::set_following(&state.stores.mongo, me.id, &me.username, target.id, follow).await?;
    crate::cached::invalidate(state, &[keys::dashboard(me.id)]).await;
    Ok(Json(ProfileResponse {
        profile: target.seen(follow),
    }))
}

/// Follow a user.
#[utoipa::path(post, path = "/api/profiles/{username}/follow", tag = "profiles",
    responses((status = 200, body = ProfileResponse), (status = 401), (status = 404), (status = 422)), security(("token" = [])))]
async fn follow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    set_follow(&state, &auth, &username, true).await
}

/// Stop following a user.
#[utoipa::path(delete, path = "/api/profiles/{username}/follow", tag = "profiles",
    responses((status = 200, body = ProfileResponse), (status = 401), (status = 404)), security(("token" = [])))]
async fn unfollow(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    set_follow(&state, &auth, &username, false).await
}

#[derive(Deserialize, IntoParams)]
pub struct ArticleQuery {
    /// Only articles with this tag.
    tag: Option<String>,
    /// Only articles by this username.
    author: Option<String>,
    /// Only articles this username favorited.
    favorited: Option<String>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    offset: Option<u64>,
}

pub(crate) fn page(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    Ok(limit)
}

async fn listed(
    state: &AppState,
    viewer: Option<u64>,
    filter: ListQuery,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let (found, count) = list_posts(state, filter).await?;
    page_response(state, viewer, found, count).await
}

/// A page of published posts, newest first, and how many match. Which posts, in which order,
/// comes from this server's search index (a sorted page of a large match is the one read
/// MongoDB-compatible stores cannot answer quickly at scale); their content comes from MongoDB,
/// so a post changed since the index last saw it shows as it is now. Writes through this
/// server return only once the index shows them (see [`content_changed`]).
pub(crate) async fn list_posts(
    state: &AppState,
    query: ListQuery,
) -> Result<(Vec<Post>, u64), ApiError> {
    let index = state.search.clone();
    let page = tokio::task::spawn_blocking(move || index.list(&query))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)?;
    let ids: Vec<ObjectId> = page
        .ids
        .iter()
        .filter_map(|id| ObjectId::parse_str(id).ok())
        .collect();
    let found = cached_posts(state, &ids, &page.slugs).await?;
    Ok((found, page.total as u64))
}

/// The published posts `ids` (whose slugs are `slugs`), in that order: from the article
/// cache ([`keys::article`], one `MGET`), the rest from MongoDB in one read, then cached as
/// `GET /api/articles/{slug}` would cache them. The cache is dropped on every change to a
/// post, as for single articles; Redis failing means MongoDB for all.
pub(crate) async fn cached_posts(
    state: &AppState,
    ids: &[ObjectId],
    slugs: &[String],
) -> Result<Vec<Post>, ApiError> {
    let redis = &state.stores.redis;
    let keys: Vec<String> = slugs.iter().map(|s| keys::article(s)).collect();
    let cached = redis.cached_many(&keys).await.unwrap_or_default();
    let mut found: HashMap<ObjectId, Post> = cached
        .iter()
        .flatten()
        .filter_map(|json| serde_json::from_str::<CachedArticle>(json).ok()?.post)
        .filter(|p| p.status == "published" && ids.contains(&p.id))
        .map(|p| (p.id, p))
        .collect();
    let missing: Vec<ObjectId> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(id))
        .collect();
    if !missing.is_empty() {
        let loaded = posts::by_ids(&state.stores.mongo, &missing, true).await?;
        let entries: Vec<(String, String)> = loaded
            .iter()
            .filter_map(|p| {
                let body_html = Some(techhub_content::render::markdown_to_safe_html(&p.body));
                let entry = CachedArticle {
                    post: Some(p.clone()),
                    body_html,
                };
                Some((keys::article(&p.slug), serde_json::to_string(&entry).ok()?))
            })
            .collect();
        if let Err(e) = redis.cache_many(&entries, ARTICLE_TTL).await {
            tracing::debug!(error = %e, "listed articles not cached");
        }
        found.extend(loaded.into_iter().map(|p| (p.id, p)));
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// A page of posts rendered for `viewer`, with the total they were taken from.
async fn page_response(
    state: &AppState,
    viewer: Option<u64>,
    found: Vec<Post>,
    count: u64,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let articles = articles_for(state, viewer, found, false).await?;
    Ok(Json(ArticlesResponse {
        articles,
        articles_count: count,
    }))
}

/// Published articles, newest first, filtered by tag, author or favoriter.
#[utoipa::path(get, path = "/api/articles", tag = "articles", params(ArticleQuery),
    responses((status = 200, body = ArticlesResponse), (status = 422)))]
async fn list_articles(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Query(q): Query<ArticleQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let mut filter = ListQuery {
        tag: q.tag.clone(),
        limit: page(q.limit)? as usize,
        offset: q.offset.unwrap_or(0) as usize,
        ..Default::default()
    };
    if let Some(author) = q.author.as_deref() {
        filter.authors = Some(
            profile_by_name(&state, author)
                .await?
                .0
                .map(|u| u.id)
                .into_iter()
                .collect(),
        );
    }
    if let Some(fan) = q.favorited.as_deref() {
        match profile_by_name(&state, fan).await?.0 {
            Some(u) => filter.favorited_by = Some(u.id),
            None => {
                return Ok(Json(ArticlesResponse {
                    articles: Vec::new(),
                    articles_count: 0,
                }))
            }
        }
    }
    listed(&state, viewer.0.map(|v| v.id), filter).await
}

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    limit: Option<i64>,
    offset: Option<u64>,
}

/// Articles by the users the caller follows, newest first.
#[utoipa::path(get, path = "/api/articles/feed", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
async fn feed(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    // One profile read serves the list (whom the viewer follows) and the flags.
    let viewer = Viewer::load(&state, auth.id).await?;
    let filter = ListQuery {
        authors: Some(viewer.following.iter().copied().collect()),
        limit: page(q.limit)? as usize,
        offset: q.offset.unwrap_or(0) as usize,
        ..Default::default()
    };
    let (found, count) = list_posts(&state, filter).await?;
    let articles = articles_rendered(
        &state,
        Looking::Loaded(&viewer),
        found,
        false,
        None,
        Vec::new(),
    )
    .await?;
    Ok(Json(ArticlesResponse {
        articles,
        articles_count: count,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct NewArticleRequest {
    article: NewArticleBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewArticleBody {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
    /// TechHub: `published` (default) or `draft`.
    status: Option<String>,
    /// TechHub: up to 10.
    categories: Option<Vec<String>>,
    /// TechHub: `beginner`, `intermediate` or `advanced`.
    difficulty: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateArticleRequest {
    article: UpdateArticleBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateArticleBody {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
    /// TechHub: `draft`, `published` or `archived`.
    status: Option<String>,
    categories: Option<Vec<String>>,
    difficulty: Option<String>,
    /// TechHub: the version the client read; a stale one gets 409.
    version: Option<i64>,
}

fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let n = trimmed.chars().count();
    if n < min {
        return Err(FieldError::new(field, "can't be blank"));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Trimmed, de-duplicated, sorted tags within the limits.
fn tag_list(raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = text("tagList", tag, 1, MAX_TAG_CHARS)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS as usize {
        return Err(FieldError::new(
            "tagList",
            format!("has too many tags (maximum is {MAX_TAGS})"),
        ));
    }
    // Stored and shown in alphabetical order, as RealWorld clients expect.
    tags.sort();
    Ok(tags)
}

pub(crate) fn one_of(
    field: &'static str,
    raw: &str,
    allowed: &[&str],
) -> Result<String, FieldError> {
    let value = raw.trim().to_ascii_lowercase();
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// Categories: like tags, at most 10 of at most 50 characters.
fn category_list(raw: &[String]) -> Result<Vec<String>, FieldError> {
    tag_list(raw).map_err(|e| FieldError::new("categories", e.message))
}

fn collect<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// Publish an article.
#[utoipa::path(post, path = "/api/articles", tag = "articles", request_body = NewArticleRequest,
    responses((status = 201, body = ArticleResponse), (status = 401), (status = 422)), security(("token" = [])))]
async fn create_article(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<NewArticleRequest>,
) -> Result<(StatusCode, Json<ArticleResponse>), ApiError> {
    let a = req.article;
    let mut errors = Vec::new();
    let title = collect(
        &mut errors,
        text(
            "title",
            a.title.as_deref().unwrap_or(""),
            1,
            MAX_TITLE_CHARS as usize,
        ),
    );
    let description = collect(
        &mut errors,
        text(
            "description",
            a.description.as_deref().unwrap_or(""),
            0,
            MAX_DESCRIPTION_CHARS,
        ),
    );
    let body = collect(
        &mut errors,
        text(
            "body",
            a.body.as_deref().unwrap_or(""),
            1,
            MAX_BODY_CHARS as usize,
        ),
    );
    let tags = collect(&mut errors, tag_list(a.tag_list.as_deref().unwrap_or(&[])));
    let status = collect(
        &mut errors,
        one_of(
            "status",
            a.status.as_deref().unwrap_or("published"),
            &["draft", "published"],
        ),
    );
    let categories = collect(
        &mut errors,
        category_list(a.categories.as_deref().unwrap_or(&[])),
    );
    let difficulty = a
        .difficulty
        .as_deref()
        .map(|d| collect(&mut errors, one_of("difficulty", d, &posts::DIFFICULTIES)));
    let (Some(title), Some(description), Some(body), Some(tags), Some(status), Some(categories)) =
        (title, description, body, tags, status, categories)
    else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    may_write(&state, auth.id, status == "draft").await?;
    let new = NewPost {
        author_id: auth.id,
        title,
        description,
        body,
        tags,
        status,
        categories,
        difficulty: difficulty.flatten(),
    };
    let writing = state.search.write_starting();
    let post = posts::create(&state.stores.mongo, new).await?;
    content_changed(&state, writing, auth.id, &post.slug).await;
    // Rendered as anyone sees it: nobody has favorited or bookmarked a post this new, and its
    // author cannot follow themselves, so the viewer's flags need no reads.
    Ok((StatusCode::CREATED, one_article(&state, None, post).await?))
}

/// One article, with its body.
#[utoipa::path(get, path = "/api/articles/{slug}", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 404)))]
async fn get_article(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(slug): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    // Published posts come from the Redis cache (single flight on a miss) with their body
    // already rendered; drafts are never cached. Viewer flags and the author's profile (itself
    // cached by id) are read per request: in the same `MGET` as the post when this process
    // has served the slug before and so knows its author.
    // The view total of the last flush to MongoDB comes in the same `MGET` (see
    // [`keys::article_views`]).
    let key = keys::article(&slug);
    let views_key = keys::article_views(&slug);
    let hinted = state.article_authors.get(&slug);
    let mut prefetched = None;
    let mut flushed_views = None;
    if let Some(author) = hinted {
        if let Ok(mut got) = state
            .stores
            .redis
            .cached_many(&[key.clone(), keys::user(author), views_key.clone()])
            .await
        {
            flushed_views = got.pop().flatten();
            let author = got.pop().flatten();
            if let Some(article) = got.pop().flatten() {
                prefetched = Some((article, author));
            }
        }
    }
    let (json, hit, known) = match prefetched {
        Some((article, author)) => (
            article,
            true,
            author
                .and_then(|a| serde_json::from_str::<PublicProfile>(&a).ok())
                .into_iter()
                .collect(),
        ),
        None => {
            if hinted.is_none() {
                // Not read with the post above.
                flushed_views = state
                    .stores
                    .redis
                    .cached_many(std::slice::from_ref(&views_key))
                    .await
                    .ok()
                    .and_then(|mut got| got.pop().flatten());
            }
            let (json, hit) = crate::cached::load(&state, &key, ARTICLE_TTL, || async {
                let post = posts::by_slug(&state.stores.mongo, &slug).await?;
                let cacheable = post.as_ref().is_some_and(|p| p.status == "published");
                let body_html = post
                    .as_ref()
                    .map(|p| techhub_content::render::markdown_to_safe_html(&p.body));
                let json = serde_json::to_string(&CachedArticle { post, body_html })
                    .map_err(|e| ApiError::Internal(e.into()))?;
                Ok(crate::cached::Loaded { json, cacheable })
            })
            .await?;
            (json, hit, Vec::new())
        }
    };
    let cached: CachedArticle =
        serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.into()))?;
    let mut post = cached.post.ok_or(ApiError::NotFound("article"))?;
    if let Some(total) = flushed_views.and_then(|v| v.parse::<i64>().ok()) {
        // Counts only grow: the larger is the newer.
        post.engagement.views = post.engagement.views.max(total);
    }
    let viewer = viewer.0.map(|v| v.id);
    if post.status != "published" && viewer != Some(post.author_id) {
        return Err(ApiError::NotFound("article"));
    }
    let published = post.status == "published";
    if published {
        // Gathered here, pushed to Redis in batches, flushed to MongoDB from there.
        state.stores.redis.count_view(&post.id.to_hex());
        state.article_authors.remember(&slug, post.author_id);
    }
    let viewer = viewer.map_or(Looking::Nobody, Looking::Id);
    let article = articles_rendered(&state, viewer, vec![post], true, cached.body_html, known)
        .await?
        .remove(0);
    let mut response = Json(ArticleResponse { article }).into_response();
    response.headers_mut().insert(
        "x-cache",
        axum::http::HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    Ok(response)
}

/// What the cache holds for `GET /api/articles/{slug}`: the post (none when there is no such
/// slug) and its body rendered to safe HTML.
#[derive(Serialize, Deserialize)]
struct CachedArticle {
    post: Option<Post>,
    body_html: Option<String>,
}

/// How long a published post stays cached. Edits, deletions, favorites, comments and
/// bookmarks drop it at once; a single article's view count is the flushed total
/// ([`keys::article_views`]), lists' may lag by up to this.
const ARTICLE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Change an article (its author only).
#[utoipa::path(put, path = "/api/articles/{slug}", tag = "articles", request_body = UpdateArticleRequest,
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 403), (status = 404), (status = 422)), security(("token" = [])))]
async fn update_article(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    ApiJson(req): ApiJson<UpdateArticleRequest>,
) -> Result<Json<ArticleResponse>, ApiError> {
    let a = req.article;
    let mut errors = Vec::new();
    let changes = PostChanges {
        title: a
            .title
            .map(|t| collect(&mut errors, text("title", &t, 1, MAX_TITLE_CHARS as usize)))
            .unwrap_or(None),
        description: a
            .description
            .map(|d| {
                collect(
                    &mut errors,
                    text("description", &d, 0, MAX_DESCRIPTION_CHARS),
                )
            })
            .unwrap_or(None),
        body: a
            .body
            .map(|b| collect(&mut errors, text("body", &b, 1, MAX_BODY_CHARS as usize)))
            .unwrap_or(None),
        tags: a
            .tag_list
            .map(|t| collect(&mut errors, tag_list(&t)))
            .unwrap_or(None),
        status: a
            .status
            .map(|st| collect(&mut errors, one_of("status", &st, &posts::STATUSES)))
            .unwrap_or(None),
        categories: a
            .categories
            .map(|c| collect(&mut errors, category_list(&c)))
            .unwrap_or(None),
        difficulty: a
            .difficulty
            .map(|d| collect(&mut errors, one_of("difficulty", &d, &posts::DIFFICULTIES))),
        expected_version: a.version,
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    may_write(&state, auth.id, changes.status.as_deref() == Some("draft")).await?;
    let writing = state.search.write_starting();
    let post = posts::update(&state.stores.mongo, &slug, auth.id, changes)
        .await?
        .map_err(|r| refused(r, "article"))?;
    content_changed(&state, writing, auth.id, &post.slug).await;
    one_article(&state, Some(auth.id), post).await
}

/// Delete an article (its author only).
#[utoipa::path(delete, path = "/api/articles/{slug}", tag = "articles",
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("token" = [])))]
async fn delete_article(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let writing = state.search.write_starting();
    posts::delete(&state.stores.mongo, &slug, auth.id)
        .await?
        .map_err(|r| refused(r, "article"))?;
    content_changed(&state, writing, auth.id, &slug).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_favorite(
    state: &AppState,
    auth: &AuthUser,
    slug: &str,
    on: bool,
) -> Result<Json<ArticleResponse>, ApiError> {
    let writing = state.search.write_starting();
    let post = posts::set_favorite(&state.stores.mongo, slug, auth.id, on)
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    // `?favorited=` lists come from the search index.
    written(state, writing, &[keys::article(slug)]).await;
    one_article(state, Some(auth.id), post).await
}

/// Favorite an article.
#[utoipa::path(post, path = "/api/articles/{slug}/favorite", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
async fn favorite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &auth, &slug, true).await
}

/// Remove a favorite.
#[utoipa::path(delete, path = "/api/articles/{slug}/favorite", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
async fn unfavorite(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &auth, &slug, false).await
}

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

async fn comments_for(
    state: &AppState,
    viewer: Option<u64>,
    found: Vec<Comment>,
) -> Result<Vec<CommentBody>, ApiError> {
    let authors: Vec<u64> = found.iter().map(|c| c.author_id).collect();
    let followed: HashSet<u64> = match viewer {
        Some(v) => profiles::following(&state.stores.mongo, v)
            .await?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };
    let profiles = profiles_for(state, &followed, &authors, Vec::new()).await?;
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
async fn list_comments(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(slug): Path<String>,
) -> Result<Json<CommentsResponse>, ApiError> {
    let post = post_or_404(&state, &slug).await?;
    let found = comments::for_post(&state.stores.mongo, post.id).await?;
    Ok(Json(CommentsResponse {
        comments: comments_for(&state, viewer.0.map(|v| v.id), found).await?,
    }))
}

/// Comment on an article.
#[utoipa::path(post, path = "/api/articles/{slug}/comments", tag = "comments", request_body = NewCommentRequest,
    responses((status = 200, body = CommentResponse), (status = 401), (status = 404), (status = 422)), security(("token" = [])))]
async fn add_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
    ApiJson(req): ApiJson<NewCommentRequest>,
) -> Result<Json<CommentResponse>, ApiError> {
    let body = text(
        "body",
        req.comment.body.as_deref().unwrap_or(""),
        1,
        MAX_COMMENT_CHARS,
    )?;
    let post = post_or_404(&state, &slug).await?;
    let comment = comments::add(
        &state.stores.mongo,
        post.id,
        &post.slug,
        post.author_id,
        auth.id,
        &body,
    )
    .await?;
    state.wake.content_relay.notify_one();
    crate::cached::invalidate(&state, &[keys::article(&post.slug)]).await;
    let comment = comments_for(&state, Some(auth.id), vec![comment])
        .await?
        .remove(0);
    Ok(Json(CommentResponse { comment }))
}

/// Delete a comment (its author only).
#[utoipa::path(delete, path = "/api/articles/{slug}/comments/{id}", tag = "comments",
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("token" = [])))]
async fn delete_comment(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let post = post_or_404(&state, &slug).await?;
    let id = ObjectId::parse_str(&id).map_err(|_| ApiError::NotFound("comment"))?;
    comments::delete(&state.stores.mongo, post.id, id, auth.id)
        .await?
        .map_err(|r| refused(r, "comment"))?;
    crate::cached::invalidate(&state, &[keys::article(&slug)]).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TagsResponse {
    tags: Vec<String>,
}

/// How long the tag list is cached. Post events invalidate it sooner.
const TAGS_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Tags of published articles, most used first. Cached in Redis (counted from the search
/// index otherwise; `X-Cache`, single flight on a miss); a post change drops the cache, and
/// Redis being down only costs speed.
#[utoipa::path(get, path = "/api/tags", tag = "articles", responses((status = 200, body = TagsResponse)))]
async fn list_tags(State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    crate::cached::serve(&state, keys::TAGS, TAGS_TTL, || async {
        let index = state.search.clone();
        let tags = tokio::task::spawn_blocking(move || index.tags(100))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(ApiError::Internal)?
            .into_iter()
            .map(|(tag, _)| tag)
            .collect();
        let json = serde_json::to_string(&TagsResponse { tags })
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(crate::cached::Loaded {
            json,
            cacheable: true,
        })
    })
    .await
}

/// The longest a content write waits for the search index to show it.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits (at most [`INDEX_WAIT`]) until this server's search index shows every content write
/// that finished before `ticket` was taken ([`techhub_search::SearchIndex::write_ticket`]).
async fn index_shows(state: &AppState, ticket: u64) {
    if !state.search.covered(ticket, INDEX_WAIT).await {
        tracing::warn!(
            wait = ?INDEX_WAIT,
            "the search index did not show a content write in time; lists may lag behind it"
        );
    }
}

/// After a post was written: wake this server's content relay and search indexer, and drop
/// the cache entries the change affects at once (the relay drops them again from the post's
/// event, which covers a crash right here).
async fn content_changed(
    state: &AppState,
    writing: techhub_search::index::LocalWrite,
    author: u64,
    slug: &str,
) {
    let affected = [
        keys::TAGS.to_string(),
        keys::dashboard(author),
        keys::article(slug),
    ];
    written(state, writing, &affected).await;
}

/// After a content write through this server is done: wake the content relay and search
/// indexer, return once this server's index shows the write (read your writes: lists come from
/// the index), then drop the cache entries `affected` (after, not before, so no cached list
/// older than the write outlives it).
async fn written(
    state: &AppState,
    writing: techhub_search::index::LocalWrite,
    affected: &[String],
) {
    // The write is done: the next scan of the index starts after it.
    drop(writing);
    let ticket = state.search.write_ticket();
    state.wake.content_changed();
    index_shows(state, ticket).await;
    crate::cached::invalidate(state, affected).await;
}

/// MySQL decides whether the author may write: the account must be active, and a new draft
/// must fit the plan's draft allowance. 403 with the reason otherwise.
async fn may_write(state: &AppState, user_id: u64, adds_draft: bool) -> Result<(), ApiError> {
    let user = users::find(&state.stores.mysql, user_id).await?;
    if user.status != "active" {
        return Err(ApiError::Forbidden(format!(
            "your account is {}",
            user.status
        )));
    }
    if adds_draft {
        let plan = techhub_accounts::billing::current(&state.stores.mysql, user_id)
            .await?
            .plan;
        if let Some(max) = plan.entitlements().max_drafts {
            let (_, drafts) = posts::drafts(&state.stores.mongo, user_id, 1, 0).await?;
            if drafts >= max as u64 {
                return Err(ApiError::Forbidden(format!(
                    "the {} plan allows {max} drafts; publish or delete one, or upgrade",
                    plan.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// The caller's drafts, newest first; drafts never appear in lists or feeds.
#[utoipa::path(get, path = "/api/user/drafts", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
async fn my_drafts(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let (found, count) = posts::drafts(
        &state.stores.mongo,
        auth.id,
        page(q.limit)?,
        q.offset.unwrap_or(0),
    )
    .await?;
    page_response(&state, Some(auth.id), found, count).await
}

async fn set_bookmark(
    state: &AppState,
    auth: &AuthUser,
    slug: &str,
    on: bool,
) -> Result<Json<ArticleResponse>, ApiError> {
    let post = post_or_404(state, slug).await?;
    if post.status != "published" {
        return Err(ApiError::NotFound("article"));
    }
    let me = users::find(&state.stores.mysql, auth.id).await?;
    if profiles::set_bookmark(&state.stores.mongo, me.id, &me.username, post.id, on).await? {
        let delta = if on { 1 } else { -1 };
        posts::add_to_counter(
            &state.stores.mongo,
            post.id,
            posts::Counter::Bookmarks,
            delta,
        )
        .await?;
        crate::cached::invalidate(state, &[keys::dashboard(me.id), keys::article(slug)]).await;
    }
    one_article(state, Some(auth.id), post_or_404(state, slug).await?).await
}

/// Bookmark an article (TechHub).
#[utoipa::path(post, path = "/api/articles/{slug}/bookmark", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
async fn bookmark(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_bookmark(&state, &auth, &slug, true).await
}

/// Remove a bookmark (TechHub).
#[utoipa::path(delete, path = "/api/articles/{slug}/bookmark", tag = "articles",
    responses((status = 200, body = ArticleResponse), (status = 401), (status = 404)), security(("token" = [])))]
async fn unbookmark(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_bookmark(&state, &auth, &slug, false).await
}

/// The caller's bookmarked articles, most recently bookmarked first.
#[utoipa::path(get, path = "/api/user/bookmarks", tag = "articles", params(FeedQuery),
    responses((status = 200, body = ArticlesResponse), (status = 401)), security(("token" = [])))]
async fn my_bookmarks(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<FeedQuery>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let limit = page(q.limit)? as usize;
    let mut ids = profiles::bookmarks(&state.stores.mongo, auth.id).await?;
    ids.reverse();
    let found = posts::by_ids(&state.stores.mongo, &ids, false).await?;
    let count = found.len() as u64;
    let window: Vec<Post> = found
        .into_iter()
        .skip(q.offset.unwrap_or(0) as usize)
        .take(limit)
        .collect();
    page_response(&state, Some(auth.id), window, count).await
}
