//! The article cache: published posts by slug in Redis with their body already rendered
//! (the viewer-independent part of `GET /api/articles/{slug}`), read by single articles and,
//! one `MGET` a page, by lists and search results. Drafts are never cached. Every change to a
//! post drops its entry (the write path and the post's event both do).

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use techhub_cache::entries::keys;
use techhub_content::posts::{self, Post};

use crate::cached::{Loaded, CLAIM};
use crate::error::ApiError;
use crate::profiles::PublicProfile;
use crate::AppState;

/// How long a published post stays cached. Edits, deletions, favorites, comments and
/// bookmarks drop it at once; a single article's view count is the flushed total
/// ([`keys::article_views`]), lists' may lag by up to this.
pub(crate) const ARTICLE_TTL: Duration = Duration::from_secs(60);

/// What the cache holds for `GET /api/articles/{slug}`: the post (none when there is no such
/// slug) and its body rendered to safe HTML.
#[derive(Serialize, Deserialize)]
pub(crate) struct CachedArticle {
    pub post: Option<Post>,
    pub body_html: Option<String>,
}

impl CachedArticle {
    fn of(post: Option<Post>) -> Self {
        let body_html = post
            .as_ref()
            .map(|p| techhub_content::render::markdown_to_safe_html(&p.body));
        CachedArticle { post, body_html }
    }

    fn to_json(&self) -> Result<String, ApiError> {
        serde_json::to_string(self).map_err(|e| ApiError::Internal(e.into()))
    }
}

/// An article as [`article_by_slug`] found it.
pub(crate) struct Found {
    pub article: CachedArticle,
    /// Whether it came from the cache.
    pub hit: bool,
    /// The author's public profile, when it came in the same read.
    pub author: Vec<PublicProfile>,
}

/// The post `slug` (any status) from the cache, or from MongoDB (single flight on a miss)
/// and then cached when published. When this process has served the slug before and so knows
/// its author, the author's cached profile comes in the same `MGET`; the view total of the
/// last flush to MongoDB ([`keys::article_views`]) always comes with it, and the larger of it
/// and the cached copy's count is shown (counts only grow).
pub(crate) async fn article_by_slug(state: &AppState, slug: &str) -> Result<Found, ApiError> {
    let redis = &state.stores.redis;
    let key = keys::article(slug);
    let views_key = keys::article_views(slug);
    let (mut found, flushed_views) = match state.article_authors.get(slug) {
        Some(author) => {
            let got = redis
                .cached_many(&[key.clone(), keys::user(author), views_key])
                .await
                .unwrap_or_default();
            let mut got = got.into_iter();
            let (article, author, views) = (
                got.next().flatten(),
                got.next().flatten(),
                got.next().flatten(),
            );
            let found = match article {
                Some(json) => Some(Found {
                    article: parse(&json)?,
                    hit: true,
                    author: author
                        .and_then(|a| serde_json::from_str::<PublicProfile>(&a).ok())
                        .into_iter()
                        .collect(),
                }),
                None => None,
            };
            (found, views)
        }
        None => {
            let views = redis
                .cached_many(std::slice::from_ref(&views_key))
                .await
                .ok()
                .and_then(|mut got| got.pop().flatten());
            (None, views)
        }
    };
    if found.is_none() {
        let (json, hit) = crate::cached::load(state, &key, ARTICLE_TTL, || async {
            let post = posts::by_slug(&state.stores.mongo, slug).await?;
            let cacheable = post.as_ref().is_some_and(|p| p.status.is_published());
            let json = CachedArticle::of(post).to_json()?;
            Ok(Loaded { json, cacheable })
        })
        .await?;
        found = Some(Found {
            article: parse(&json)?,
            hit,
            author: Vec::new(),
        });
    }
    let mut found = found.expect("found above");
    if let (Some(post), Some(total)) = (
        found.article.post.as_mut(),
        flushed_views.and_then(|v| v.parse::<i64>().ok()),
    ) {
        post.engagement.views = post.engagement.views.max(total);
    }
    Ok(found)
}

fn parse(json: &str) -> Result<CachedArticle, ApiError> {
    serde_json::from_str(json).map_err(|e| ApiError::Internal(e.into()))
}

/// The published posts `ids` (whose slugs are `slugs`), in that order: from the article
/// cache (one `MGET`), the rest from MongoDB in one read, then cached as
/// `GET /api/articles/{slug}` would cache them. Redis failing means MongoDB for all.
pub(crate) async fn published_posts(
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
        .filter(|p| p.status.is_published() && ids.contains(&p.id))
        .map(|p| (p.id, p))
        .collect();
    let (missing, missing_keys): (Vec<ObjectId>, Vec<String>) = ids
        .iter()
        .zip(keys)
        .filter(|(id, _)| !found.contains_key(id))
        .map(|(id, key)| (*id, key))
        .unzip();
    if !missing.is_empty() {
        // Leased before reading, so a post changed meanwhile is not cached as it was.
        let lease = redis.lease_many(&missing_keys, CLAIM).await.ok();
        let loaded = posts::by_ids(&state.stores.mongo, &missing, true).await?;
        if let Some(lease) = lease {
            let entries: Vec<(String, String)> = loaded
                .iter()
                .filter_map(|p| {
                    let json = CachedArticle::of(Some(p.clone())).to_json().ok()?;
                    Some((keys::article(&p.slug), json))
                })
                .collect();
            if let Err(e) = redis.cache_leased(&lease, &entries, ARTICLE_TTL).await {
                tracing::debug!(error = %e, "listed articles not cached");
            }
        }
        found.extend(loaded.into_iter().map(|p| (p.id, p)));
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The author of each published article this process has served, by slug, so the next read
/// fetches the article and its author's profile from Redis in one `MGET` instead of two
/// round trips. A post's author never changes, so an entry never goes stale; a wrong one
/// (a slug reused after a deletion) only costs the profile read it was meant to save, since
/// the article's own author id decides. Bounded: when full it starts over.
#[derive(Default)]
pub struct ArticleAuthors(std::sync::RwLock<HashMap<String, u64>>);

/// At most this many slugs are remembered (about 10 MB).
const MAX_ARTICLE_AUTHORS: usize = 100_000;

impl ArticleAuthors {
    pub fn get(&self, slug: &str) -> Option<u64> {
        self.0
            .read()
            .expect("article authors lock")
            .get(slug)
            .copied()
    }

    pub fn remember(&self, slug: &str, author: u64) {
        if self.get(slug) == Some(author) {
            return;
        }
        let mut map = self.0.write().expect("article authors lock");
        if map.len() >= MAX_ARTICLE_AUTHORS {
            map.clear();
        }
        map.insert(slug.to_string(), author);
    }
}

/// Brings the cached articles of `posts` (id and slug, as the events counted into them name
/// them) up to date in place, after the content relay moved their comment or favorite counts,
/// rather than dropping them: a dropped entry of a popular post is read again from MongoDB by
/// the next request for it, one read per post each time the relay counts, where this is one
/// read per batch. Only entries still cached are refreshed, and their rendered body is kept
/// when the body did not change.
///
/// Race-free as a batch fill is: the entries are leased before MongoDB is read, and one that
/// a write drops meanwhile (dropping its lease too) is not written back. An entry another
/// loader holds, or whose post is no longer published under that slug, is dropped as before.
/// Should anything fail, every entry of `posts` is dropped instead, as before. Returns how
/// many entries were refreshed.
pub async fn refresh_counted(
    redis: &techhub_cache::Redis,
    mongo: &techhub_content::Mongo,
    posts: &[(ObjectId, String)],
) -> anyhow::Result<u64> {
    if posts.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = posts.iter().map(|(_, slug)| keys::article(slug)).collect();
    match refresh_leased(redis, mongo, posts, &keys).await {
        Ok(refreshed) => Ok(refreshed),
        Err(e) => {
            redis.invalidate(&keys).await?;
            Err(e)
        }
    }
}

/// [`refresh_counted`] of `posts`, whose entries are `keys`.
async fn refresh_leased(
    redis: &techhub_cache::Redis,
    mongo: &techhub_content::Mongo,
    posts: &[(ObjectId, String)],
    keys: &[String],
) -> anyhow::Result<u64> {
    let lease = redis.lease_many(keys, CLAIM).await?;
    // Held by another loader, whose read may predate the count: dropped, as before.
    let mut stale: Vec<String> = keys
        .iter()
        .filter(|k| !lease.keys().contains(k))
        .cloned()
        .collect();
    let cached = redis.cached_many(lease.keys()).await?;
    let mut present: HashMap<&str, CachedArticle> = lease
        .keys()
        .iter()
        .zip(cached)
        .filter_map(|(key, json)| Some((key.as_str(), parse(&json?).ok()?)))
        .collect();
    let ids: Vec<ObjectId> = posts
        .iter()
        .filter(|(_, slug)| present.contains_key(keys::article(slug).as_str()))
        .map(|(id, _)| *id)
        .collect();
    let fresh = posts::by_ids(mongo, &ids, true).await?;
    let mut entries = Vec::with_capacity(fresh.len());
    for post in fresh {
        let key = keys::article(&post.slug);
        let Some(old) = present.remove(key.as_str()) else {
            continue;
        };
        let kept = old.post.filter(|p| p.body == post.body).and(old.body_html);
        let article = match kept {
            Some(html) => CachedArticle {
                post: Some(post),
                body_html: Some(html),
            },
            None => CachedArticle::of(Some(post)),
        };
        entries.push((key, serde_json::to_string(&article)?));
    }
    // Cached but not read back (unpublished, deleted, or its slug changed): dropped.
    stale.extend(present.into_keys().map(str::to_string));
    let refreshed = redis.cache_leased(&lease, &entries, ARTICLE_TTL).await?;
    redis.invalidate(&stale).await?;
    Ok(refreshed)
}
