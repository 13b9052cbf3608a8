//! The one way the API writes content. Every change to posts, comments, favorites, bookmarks
//! and follows goes through [`write`], which runs the same protocol around the MongoDB write:
//!
//! 1. register the write with this server's search index, when it stamps the post's
//!    `changedAt` (so the indexer's next short scan reaches back to it);
//! 2. run the write (the post's events travel in the same document write);
//! 3. wake this server's content relay (the events) and search indexer (the change);
//! 4. wait until this server's index shows the write, for writes the index lists (lists,
//!    feeds and `?favorited=` come from the index: a client reads its own writes);
//! 5. drop the cache entries computed from what changed — after the index shows it, not
//!    before, so no list cached from an older index outlives the write. The relay drops them
//!    again when it delivers the events, which covers a crash between 2 and 5.
//!
//! A write that fails or is refused changes nothing, so nothing after step 2 runs for it.

use std::future::Future;
use std::time::Duration;

use techhub_cache::entries::keys;

use crate::error::ApiError;
use crate::AppState;

/// What kind of content a write changes, which decides the steps it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A post is created, edited, published, unpublished or deleted: it stamps `changedAt`
    /// and carries an event.
    Post,
    /// A favorite is added or removed: it stamps `changedAt` (lists of what a user favorited
    /// come from the index) and a new one carries a `post.liked` event.
    Favorite,
    /// A comment is added, with a `comment.created` event.
    CommentAdded,
    /// A comment is removed (its post's counter moves; no event).
    CommentRemoved,
    /// A reader's profile changes (a follow, a bookmark): no event, nothing the index holds.
    Profile,
}

impl Change {
    fn indexed(self) -> bool {
        matches!(self, Change::Post | Change::Favorite)
    }

    fn has_events(self) -> bool {
        matches!(self, Change::Post | Change::Favorite | Change::CommentAdded)
    }
}

/// The cache entries a change to the post `slug` by `author` affects: the post, its author's
/// dashboard (recent posts) and the tag list.
pub(crate) fn post_entries(author: u64, slug: &str) -> Vec<String> {
    vec![
        keys::TAGS.to_string(),
        keys::dashboard(author),
        keys::article(slug),
    ]
}

/// The longest a content write waits for the search index to show it.
const INDEX_WAIT: Duration = Duration::from_secs(2);

/// Runs `write`, a content write of kind `change`, through the protocol above; `affected`
/// names the cache entries to drop from what the write returned.
pub(crate) async fn write<T, Fut>(
    state: &AppState,
    change: Change,
    write: Fut,
    affected: impl FnOnce(&T) -> Vec<String>,
) -> Result<T, ApiError>
where
    Fut: Future<Output = Result<T, ApiError>>,
{
    let registered = change.indexed().then(|| state.search.write_starting());
    let written = write.await?;
    // The write is done: the next scan of the index starts after it.
    drop(registered);
    if change.has_events() {
        state.wake.content_relay.notify_one();
    }
    if change.indexed() {
        let ticket = state.search.write_ticket();
        state.wake.search.notify_one();
        if !state.search.covered(ticket, INDEX_WAIT).await {
            tracing::warn!(
                wait = ?INDEX_WAIT,
                "the search index did not show a content write in time; lists may lag behind it"
            );
        }
    }
    crate::cached::invalidate(state, &affected(&written)).await;
    Ok(written)
}
