//! Read your writes without waiting for the search index: lists, feeds, the dashboard and
//! search come from this server's index, which shows a write a moment after MongoDB has it.
//! Every indexed write records itself for its writer in Redis ([`crate::write_path`]); a
//! signed-in reader's index reads overlay theirs that this index does not show yet, read from
//! MongoDB as they are now, with their own favorites ([`OwnWrites::of`]). The overlay costs
//! one Redis read per signed-in index read, and MongoDB reads only in the moment between a
//! write and the index showing it.

use mongodb::bson::oid::ObjectId;
use techhub_content::{favorites, posts};
use techhub_search::indexer::indexed;
use techhub_search::IndexedPost;

use crate::error::ApiError;
use crate::AppState;

/// A reader's own recent writes that this server's index may not show yet.
#[derive(Debug, Default)]
pub(crate) struct OwnWrites {
    /// Their posts (hex ids) whose copies in the index are to be left out.
    pub hidden: Vec<String>,
    /// Those of them that are published, as they are now.
    pub published: Vec<IndexedPost>,
}

impl OwnWrites {
    /// The writes of `reader` (nobody for anonymous reads) the index does not show. Redis
    /// being down only loses the overlay (the index catches up within moments anyway).
    pub(crate) async fn of(state: &AppState, reader: Option<u64>) -> Result<Self, ApiError> {
        let Some(user) = reader else {
            return Ok(Self::default());
        };
        let recent = match state.stores.redis.own_writes(user).await {
            Ok(recent) => recent,
            Err(e) => {
                tracing::debug!(error = %e, "own writes not read; lists show the index alone");
                return Ok(Self::default());
            }
        };
        let unseen: Vec<ObjectId> = recent
            .iter()
            .filter(|(id, seq)| !state.search.shows(id, *seq))
            .filter_map(|(id, _)| ObjectId::parse_str(id).ok())
            .collect();
        if unseen.is_empty() {
            return Ok(Self::default());
        }
        let mongo = &state.stores.mongo;
        // Their favorites too: the posts' `favoritedBy` holds them once the relay counted them.
        let (now, mine) = tokio::try_join!(
            posts::full_by_ids(mongo, &unseen),
            favorites::among(mongo, &unseen, user),
        )?;
        Ok(OwnWrites {
            hidden: unseen.iter().map(|id| id.to_hex()).collect(),
            published: now
                .iter()
                .filter(|p| p.post.status.is_published())
                .map(|p| {
                    let mut shown = indexed(p);
                    if let Some(favorite) = mine.get(&p.post.id) {
                        shown.favorited_by.retain(|u| *u != user);
                        if favorite.on {
                            shown.favorited_by.push(user);
                        }
                    }
                    shown
                })
                .collect(),
        })
    }
}
