//! Read your writes without waiting for the search index: lists, feeds, the dashboard and
//! search come from this server's index, which shows a write a moment after MongoDB has it.
//! Every indexed write records itself for its writer in Redis ([`crate::write_path`]); a
//! signed-in reader's index reads overlay theirs that this index does not show yet, read from
//! MongoDB as they are now, with their own favorites ([`OwnWrites::of`]). The overlay costs
//! one Redis read per signed-in index read, and MongoDB reads only in the moment between a
//! write and the index showing it.
//!
//! A reader's own favorites are their favorites as the relay last folded them, with their
//! clicks not yet folded in, which each click records in Redis ([`favorites_of`]).

use std::collections::HashMap;

use mongodb::bson::oid::ObjectId;
use techhub_content::favorites::{self, Favorite};
use techhub_content::posts;
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
            async { Ok::<_, ApiError>(posts::full_by_ids(mongo, &unseen).await?) },
            Box::pin(favorites_of(state, &unseen, user)),
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

/// `user`'s favorites among `post_ids` as they see them: as the relay last folded them, with
/// their clicks since ([`Favorite::clicked`]), read concurrently. Should Redis not answer,
/// the clicks are read from MongoDB instead.
pub(crate) async fn favorites_of(
    state: &AppState,
    post_ids: &[ObjectId],
    user: u64,
) -> Result<HashMap<ObjectId, Favorite>, ApiError> {
    let mongo = &state.stores.mongo;
    let clicks = async {
        let hex: Vec<String> = post_ids.iter().map(|id| id.to_hex()).collect();
        match state.stores.redis.favorite_clicks(user, &hex).await {
            Ok(found) => Ok(post_ids
                .iter()
                .zip(found)
                .filter_map(|(id, click)| Some((*id, click?)))
                .collect()),
            Err(e) => {
                tracing::debug!(error = %e, "favorite clicks not read from Redis; reading MongoDB's");
                favorites::clicks_among(mongo, post_ids, user).await
            }
        }
    };
    let (mut mine, clicks) = tokio::try_join!(favorites::among(mongo, post_ids, user), clicks)?;
    for (id, click) in clicks {
        let favorite = mine.entry(id).or_default();
        *favorite = favorite.clicked(Some(click));
    }
    Ok(mine)
}
