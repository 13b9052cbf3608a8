//! The one way the API writes content. Every change to posts, comments, favorites, bookmarks
//! and follows goes through [`write`], which runs the same protocol around the MongoDB write:
//!
//! 0. wait a little while this server's content relay is far behind the writes of its kind
//!    ([`techhub_content::posts::DueWake::pace`]);
//! 1. register the write with this server's search index, when it stamps the post's
//!    `changedAt` (so the indexer's next short scan reaches back to it; a favorite's post
//!    changes later, in the relay);
//! 2. run the write (the post's events travel in the same document write);
//! 3. wake this server's content relay for the kind of document whose events are due (a new
//!    post's event goes out through the change stream and wakes nothing), and its search
//!    indexer (the change);
//! 4. drop the cache entries computed from what changed and, for writes the index lists
//!    (lists, feeds, search and `?favorited=` come from it), record the write for its writer
//!    in the same Redis round trip ([`crate::own_writes`]): the writer's next list shows it on
//!    any instance, though no index has it yet. The write does not wait for the index.
//!    The relay drops the entries again when it delivers the events, which covers a crash
//!    between 2 and 4. Only when Redis cannot record the write does it wait for this
//!    server's index to show it (at most 2 s), so its writer still reads it here.
//!
//! A write that fails or is refused changes nothing, so nothing after step 2 runs for it.

use std::future::Future;

use techhub_cache::entries::keys;
use techhub_content::posts::{Post, Source};
use techhub_core::domain::FavoriteClick;

use crate::error::ApiError;
use crate::AppState;

/// What kind of content a write changes, which decides the steps it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A post is created: it stamps `changedAt`, and its event goes out through the posts'
    /// change stream, not as an event due.
    PostCreated,
    /// A post is edited, published, unpublished or deleted: it stamps `changedAt` and
    /// carries an event due.
    Post,
    /// A favorite is added or removed: the click is a document carrying a `post.liked` or
    /// `post.unliked` event, and the relay moves the favorite and the post (its count, and
    /// `favoritedBy`, which the index's lists of what a user favorited follow) when it folds
    /// the click in. The writer's own reads show it at once (the own-write record, with the
    /// click).
    Favorite,
    /// A comment is added, with a `comment.created` event (in the comment).
    CommentAdded,
    /// A comment is removed (its post's counter moves; no event).
    CommentRemoved,
    /// A reader's profile changes (a follow, a bookmark): no event, nothing the index holds.
    Profile,
}

impl Change {
    /// Whether the write itself stamps a post's `changedAt` (the index's change feed).
    fn indexed(self) -> bool {
        matches!(self, Change::PostCreated | Change::Post)
    }

    /// Where the write leaves an event due, if it does.
    fn due(self) -> Option<Source> {
        match self {
            Change::Post => Some(Source::Posts),
            Change::Favorite => Some(Source::Favorites),
            Change::CommentAdded => Some(Source::Comments),
            Change::PostCreated | Change::CommentRemoved | Change::Profile => None,
        }
    }
}

/// The longest a content write waits for this server's search index when Redis cannot
/// record it for its writer.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What a write changed: the cache entries computed from it, and for a change the index
/// lists, the post (hex id) and the change number the write left it at.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    stale: Vec<String>,
    post: Option<(String, i64)>,
    click: Option<FavoriteClick>,
}

impl Effects {
    /// A write that makes the cache entries `stale` and nothing the index lists.
    pub(crate) fn stale(stale: Vec<String>) -> Self {
        Effects {
            stale,
            post: None,
            click: None,
        }
    }

    /// A write that left `post` at its change number, making `stale` stale.
    pub(crate) fn post(post: &Post, stale: Vec<String>) -> Self {
        Self::post_id(post.id.to_hex(), post.change_seq, stale)
    }

    /// [`Effects::post`] by id.
    pub(crate) fn post_id(id: String, change_seq: i64, stale: Vec<String>) -> Self {
        Effects {
            stale,
            post: Some((id, change_seq)),
            click: None,
        }
    }

    /// [`Effects::post_id`] of a favorite `click`, which its writer's reads of their
    /// favorites take until the relay folds it.
    pub(crate) fn favorite(id: String, change_seq: i64, click: FavoriteClick) -> Self {
        Effects {
            stale: Vec::new(),
            post: Some((id, change_seq)),
            click: Some(click),
        }
    }
}

/// The cache entries a change to the post `slug` by `author` affects: the post and its
/// author's dashboard (recent posts).
pub(crate) fn post_entries(author: u64, slug: &str) -> Vec<String> {
    vec![keys::dashboard(author), keys::article(slug)]
}

/// Runs `write`, a content write by `writer` of kind `change`, through the protocol above;
/// `affected` says what it changed from what the write returned.
pub(crate) async fn write<T, Fut>(
    state: &AppState,
    writer: u64,
    change: Change,
    write: Fut,
    affected: impl FnOnce(&T) -> Effects,
) -> Result<T, ApiError>
where
    Fut: Future<Output = Result<T, ApiError>>,
{
    if let Some(source) = change.due() {
        // Slowed while the relay is behind the writes of this kind (`DueWake::pace`).
        let pace = state.wake.content_relay.pace(source);
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    let registered = change.indexed().then(|| state.search.write_starting());
    let written = write.await?;
    // The write is done: the next scan of the index starts after it.
    drop(registered);
    if let Some(source) = change.due() {
        state.wake.content_relay.due(source);
    }
    let ticket = state.search.write_ticket();
    if change.indexed() {
        state.wake.search.notify_one();
    }
    let effects = affected(&written);
    match &effects.post {
        Some((post, seq)) => {
            let redis = &state.stores.redis;
            if let Err(e) = redis
                .record_own_write(writer, post, *seq, effects.click, &effects.stale)
                .await
            {
                // Without Redis the writer still reads their write on this server: wait
                // for its index to show it, as before there was an overlay.
                tracing::debug!(error = %e, "own write not recorded; waiting for the index");
                if !state.search.covered(ticket, INDEX_WAIT).await {
                    tracing::warn!(
                        wait = ?INDEX_WAIT,
                        "the search index did not show a content write in time; lists may lag behind it"
                    );
                }
            }
        }
        None => crate::cached::invalidate(state, &effects.stale).await,
    }
    Ok(written)
}
