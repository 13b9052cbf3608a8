//! Posts rendered as the API shows them: [`render_articles`] turns posts into
//! [`ArticleBody`]s for one reader, with their authors (cached public profiles) and, for a
//! signed-in reader, the `following`, `favorited` and `bookmarked` flags. Everything that
//! answers with articles goes through it.

use std::collections::{HashMap, HashSet};

use axum::Json;
use mongodb::bson::oid::ObjectId;
use serde::Serialize;
use techhub_content::favorites::Favorite;
use techhub_content::posts::Post;
use techhub_content::profiles;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::profiles::{ProfileBody, PublicProfile};
use crate::AppState;

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
    #[schema(value_type = String)]
    status: techhub_core::domain::PostStatus,
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
    pub(crate) article: ArticleBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesResponse {
    articles: Vec<ArticleBody>,
    articles_count: u64,
}

impl ArticlesResponse {
    pub(crate) fn empty() -> Json<Self> {
        Json(ArticlesResponse {
            articles: Vec::new(),
            articles_count: 0,
        })
    }
}

/// A MongoDB time as the API writes it.
pub(crate) fn time(t: mongodb::bson::DateTime) -> String {
    crate::iso(chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default())
}

/// A signed-in reader, with whom they follow and what they bookmarked (one profile read,
/// cached).
pub(crate) struct Viewer {
    pub id: u64,
    pub following: HashSet<u64>,
    pub bookmarks: HashSet<ObjectId>,
}

/// How long a reader's follows and bookmarks stay cached: their own follows and bookmarks drop
/// the entry, so this only bounds what nothing else changes.
const VIEWER_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A [`Viewer`] as cached (`keys::viewer`).
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedViewer {
    following: Vec<u64>,
    bookmarks: Vec<ObjectId>,
}

impl Viewer {
    /// Reader `id`'s follows and bookmarks: from the cache, or one read of their profile
    /// (every signed-in page and write answer needs them; in a run of favorites their reads
    /// took 3.3 s of SecantusDB's 12).
    pub(crate) async fn load(state: &AppState, id: u64) -> Result<Viewer, ApiError> {
        let key = techhub_cache::entries::keys::viewer(id);
        let (json, _) = crate::cached::load(state, &key, VIEWER_TTL, || async {
            let (following, bookmarks) =
                profiles::following_and_bookmarks(&state.stores.mongo, id).await?;
            let json = serde_json::to_string(&CachedViewer {
                following,
                bookmarks,
            })
            .map_err(|e| ApiError::Internal(e.into()))?;
            Ok(crate::cached::Loaded {
                json,
                cacheable: true,
            })
        })
        .await?;
        let cached: CachedViewer =
            serde_json::from_str(&json).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(Viewer {
            id,
            following: cached.following.into_iter().collect(),
            bookmarks: cached.bookmarks.into_iter().collect(),
        })
    }
}

/// Who articles are rendered for.
#[derive(Clone, Copy)]
pub(crate) enum Reader<'a> {
    Anonymous,
    /// A signed-in reader whose profile is still to be read.
    Id(u64),
    /// A signed-in reader whose profile was read already.
    Loaded(&'a Viewer),
    /// A signed-in reader, their profile read, who just (un)favorited the post: their
    /// favorite as read after the write.
    Favoriting {
        viewer: &'a Viewer,
        favorite: Favorite,
    },
}

impl Reader<'_> {
    /// The signed-in reader `id`, if any.
    pub(crate) fn of(id: Option<u64>) -> Self {
        id.map_or(Reader::Anonymous, Reader::Id)
    }

    fn id(&self) -> Option<u64> {
        match self {
            Reader::Anonymous => None,
            Reader::Id(id) => Some(*id),
            Reader::Loaded(v) => Some(v.id),
            Reader::Favoriting { viewer, .. } => Some(viewer.id),
        }
    }
}

/// With the body or without (lists), and the body's HTML if it was rendered already (the
/// article cache holds it).
pub(crate) enum Shape {
    Listed,
    Full { html: Option<String> },
}

/// Renders `posts` for `reader`: authors (cached; `known` are profiles the caller already
/// read), and for a signed-in reader the following and bookmark flags (one profile read,
/// unless loaded already) and their favorites (one MongoDB and one Redis read),
/// concurrently. A reader's own favorite shows at once, in the flag and the count, though the
/// post's count may not hold it yet ([`Favorite::adjustment`]).
pub(crate) async fn render_articles(
    state: &AppState,
    reader: Reader<'_>,
    posts: Vec<Post>,
    shape: Shape,
    known: Vec<PublicProfile>,
) -> Result<Vec<ArticleBody>, ApiError> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let mut authors: Vec<u64> = posts.iter().map(|p| p.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    let ids: Vec<ObjectId> = posts.iter().map(|p| p.id).collect();
    // Authors, favorites and (when not yet read) the reader's profile, concurrently.
    let (found, favorited, loaded) = tokio::try_join!(
        crate::profiles::public_profiles(state, &authors, known),
        async {
            match reader {
                Reader::Favoriting { favorite, .. } => {
                    Ok(ids.iter().map(|id| (*id, favorite)).collect())
                }
                _ => match reader.id() {
                    // Boxed: its Redis and MongoDB reads would make every caller's future
                    // (and a debug build's stack) much larger.
                    Some(v) => Box::pin(crate::own_writes::favorites_of(state, &ids, v)).await,
                    None => Ok::<_, ApiError>(HashMap::new()),
                },
            }
        },
        async {
            match reader {
                Reader::Id(id) => Ok(Some(Viewer::load(state, id).await?)),
                _ => Ok::<_, ApiError>(None),
            }
        },
    )?;
    let viewer = match reader {
        Reader::Loaded(v) | Reader::Favoriting { viewer: v, .. } => Some(v),
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
    let (with_body, mut html) = match shape {
        Shape::Listed => (false, None),
        Shape::Full { html } => (true, html),
    };
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
            let seo = p.metadata.seo;
            let own = favorited.get(&p.id);
            let likes = (p.engagement.likes + own.map_or(0, |f| f.adjustment(p.change_seq))).max(0);
            Ok(ArticleBody {
                favorited: own.is_some_and(|f| f.on),
                bookmarked: bookmarked.contains(&p.id),
                body_html: with_body.then(|| {
                    html.take()
                        .unwrap_or_else(|| techhub_content::render::markdown_to_safe_html(&p.body))
                }),
                status: p.status,
                categories: p.categories,
                difficulty: p.difficulty,
                estimated_read_time: p.estimated_read_time,
                metadata: MetadataBody {
                    seo: SeoBody {
                        title: seo.title,
                        description: seo.description,
                        keywords: seo.keywords,
                    },
                },
                engagement: EngagementBody {
                    views: p.engagement.views,
                    likes,
                    comments: p.engagement.comments,
                    bookmarks: p.engagement.bookmarks,
                },
                favorites_count: likes,
                published_at: p.published_at.map(time),
                version: p.version,
                slug: p.slug,
                title: p.title,
                description: p.description,
                body: with_body.then_some(p.body),
                tag_list: p.tags,
                created_at: time(p.created_at),
                updated_at: time(p.updated_at),
                author,
            })
        })
        .collect()
}

/// One post with its body, as `reader` sees it.
pub(crate) async fn article_response(
    state: &AppState,
    reader: Reader<'_>,
    post: Post,
) -> Result<Json<ArticleResponse>, ApiError> {
    let full = Shape::Full { html: None };
    let article = render_articles(state, reader, vec![post], full, Vec::new())
        .await?
        .remove(0);
    Ok(Json(ArticleResponse { article }))
}

/// A page of posts (without bodies) as `reader` sees it, with the total it was taken from.
pub(crate) async fn list_response(
    state: &AppState,
    reader: Reader<'_>,
    posts: Vec<Post>,
    total: u64,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let articles = render_articles(state, reader, posts, Shape::Listed, Vec::new()).await?;
    Ok(Json(ArticlesResponse {
        articles,
        articles_count: total,
    }))
}
