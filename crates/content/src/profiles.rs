//! `user_profiles`: the content side of a user (display name, bio, image, preferences,
//! following, bookmarks), projected from the accounts store's events.

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use serde::Serialize;
use techhub_core::events::UserSnapshot;
use uuid::Uuid;

use crate::schema::USER_PROFILES;
use crate::{Mongo, MongoError};

/// How many applied event ids a profile remembers (newest last).
const REMEMBERED_EVENTS: i32 = 20;

/// The preferences every new profile starts with.
pub fn default_preferences() -> Document {
    doc! { "theme": "system", "language": "en", "emailNotifications": true, "weeklyDigest": true }
}

/// A new `user_profiles` document: what the projection, a follow or bookmark that comes first,
/// and the seed all insert.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileDocument {
    pub user_id: u64,
    pub username: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: Vec<u64>,
    pub bookmarks: Vec<ObjectId>,
    pub preferences: Document,
    /// The accounts snapshot version this profile reflects (0: none yet, the projection
    /// completes it).
    pub source_version: i64,
    /// The ids of the last events applied (see [`apply_user_snapshot`]).
    pub processed_events: Vec<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl ProfileDocument {
    /// A profile with nothing followed or bookmarked and the default preferences, reflecting
    /// no accounts snapshot yet.
    pub fn new(user_id: u64, username: &str, created_at: DateTime) -> Self {
        ProfileDocument {
            user_id,
            username: username.to_string(),
            display_name: username.to_string(),
            bio: None,
            image: None,
            following: Vec::new(),
            bookmarks: Vec::new(),
            preferences: default_preferences(),
            source_version: 0,
            processed_events: Vec::new(),
            created_at,
            updated_at: created_at,
        }
    }

    pub fn to_bson(&self) -> Result<Document, MongoError> {
        mongodb::bson::to_document(self)
            .map_err(|e| MongoError::Corrupt(format!("profile {}: {e}", self.user_id)))
    }

    /// The fields an upsert sets when it creates the profile: all but the user id (the
    /// filter's) and the fields the upsert itself changes (`except`).
    fn on_insert(&self, except: &[&str]) -> Result<Document, MongoError> {
        let mut d = self.to_bson()?;
        d.remove("userId");
        for field in except {
            d.remove(*field);
        }
        Ok(d)
    }
}

/// Creates or updates the profile from `snapshot`. Returns false when nothing changed
/// because the profile already reflects this snapshot or a newer one, which makes a
/// redelivered or out-of-order event harmless. The update is a compare-and-set on
/// `sourceVersion`, so two relays applying snapshots at once cannot interleave wrongly.
pub async fn apply_user_snapshot(
    mongo: &Mongo,
    event_id: Uuid,
    snapshot: &UserSnapshot,
) -> Result<bool, MongoError> {
    let profiles = mongo.db().collection::<Document>(USER_PROFILES);
    let user_id = snapshot.user_id as i64;
    let version = snapshot.version as i64;
    let optional = |v: &Option<String>| v.clone().map(Bson::String).unwrap_or(Bson::Null);
    loop {
        let current = mongo
            .timed(profiles.find_one(doc! { "userId": user_id }))
            .await?;
        let Some(current) = current else {
            let profile = ProfileDocument {
                bio: snapshot.bio.clone(),
                image: snapshot.image.clone(),
                source_version: version,
                processed_events: vec![event_id.to_string()],
                ..ProfileDocument::new(snapshot.user_id, &snapshot.username, DateTime::now())
            };
            match mongo.timed(profiles.insert_one(profile.to_bson()?)).await {
                Ok(_) => return Ok(true),
                // Created concurrently: go round again and compare versions.
                Err(e) if is_duplicate_user_id(&e) => continue,
                Err(e) => return Err(e),
            }
        };
        let seen = current.get_i64("sourceVersion").unwrap_or(0);
        if seen >= version {
            return Ok(false);
        }
        let updated = mongo
            .timed(profiles.update_one(
                doc! { "userId": user_id, "sourceVersion": seen },
                doc! {
                    "$set": {
                        "username": &snapshot.username,
                        "bio": optional(&snapshot.bio),
                        "image": optional(&snapshot.image),
                        "sourceVersion": version,
                        "updatedAt": DateTime::now(),
                    },
                    "$push": { "processedEvents": { "$each": [event_id.to_string()], "$slice": -REMEMBERED_EVENTS } },
                },
            ))
            .await?;
        if updated.matched_count == 1 {
            return Ok(true);
        }
    }
}

/// The profile of `user_id`, if it exists.
pub async fn find(mongo: &Mongo, user_id: u64) -> Result<Option<Document>, MongoError> {
    // With the reads of other requests (see [`crate::batch`]); `userId` is unique.
    mongo
        .find_one_batched(
            USER_PROFILES,
            "userId",
            Bson::Int64(user_id as i64),
            crate::batch::Projection::Whole,
        )
        .await
}

/// A duplicate key on `userId` (as opposed to `username`, which is a real conflict to retry).
fn is_duplicate_user_id(e: &MongoError) -> bool {
    let MongoError::Db(e) = e else { return false };
    let text = e.to_string();
    text.contains("E11000")
        && (text.contains("userId") || text.contains("uq_user_profiles_user_id"))
        && !text.contains("uq_user_profiles_username")
}

/// The ids a profile follows.
fn following_of(profile: Option<&Document>) -> Vec<u64> {
    profile
        .and_then(|p| p.get_array("following").ok())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_i64())
                .map(|v| v as u64)
                .collect()
        })
        .unwrap_or_default()
}

/// The posts a profile bookmarked.
fn bookmarks_of(profile: Option<&Document>) -> Vec<mongodb::bson::oid::ObjectId> {
    profile
        .and_then(|p| p.get_array("bookmarks").ok())
        .map(|a| a.iter().filter_map(|b| b.as_object_id()).collect())
        .unwrap_or_default()
}

/// Whom `user_id` follows and what they bookmarked, from one read of their profile.
pub async fn following_and_bookmarks(
    mongo: &Mongo,
    user_id: u64,
) -> Result<(Vec<u64>, Vec<mongodb::bson::oid::ObjectId>), MongoError> {
    let profile = find(mongo, user_id).await?;
    Ok((
        following_of(profile.as_ref()),
        bookmarks_of(profile.as_ref()),
    ))
}

/// Makes `follower` (whose username is `follower_username`) follow or unfollow `target`.
/// The follower's profile may not be projected yet (the relay is asynchronous): then it is
/// created here with what is known, and the projection completes it (its `sourceVersion` is 0).
pub async fn set_following(
    mongo: &Mongo,
    follower: u64,
    follower_username: &str,
    target: u64,
    follow: bool,
) -> Result<(), MongoError> {
    let profiles = mongo.db().collection::<Document>(USER_PROFILES);
    let update = if follow {
        let created = ProfileDocument::new(follower, follower_username, DateTime::now());
        doc! {
            "$addToSet": { "following": target as i64 },
            "$setOnInsert": created.on_insert(&["following"])?,
        }
    } else {
        doc! { "$pull": { "following": target as i64 } }
    };
    mongo
        .timed(
            profiles
                .update_one(doc! { "userId": follower as i64 }, update)
                .upsert(follow),
        )
        .await?;
    Ok(())
}

/// Adds or removes a bookmark of `post_id` in `user_id`'s profile. Returns whether the
/// profile changed, so the caller moves the post's counter only for a real change (a repeated
/// or concurrent duplicate request matches nothing).
pub async fn set_bookmark(
    mongo: &Mongo,
    user_id: u64,
    username: &str,
    post_id: mongodb::bson::oid::ObjectId,
    bookmark: bool,
) -> Result<bool, MongoError> {
    let profiles = mongo.db().collection::<Document>(USER_PROFILES);
    let uid = user_id as i64;
    if bookmark {
        // Make sure the profile exists (the projection may not have run yet), then add the
        // bookmark only where it is missing.
        let created = ProfileDocument::new(user_id, username, DateTime::now());
        mongo
            .timed(
                profiles
                    .update_one(
                        doc! { "userId": uid },
                        doc! { "$setOnInsert": created.on_insert(&[])? },
                    )
                    .upsert(true),
            )
            .await?;
        let done = mongo
            .timed(profiles.update_one(
                doc! { "userId": uid, "bookmarks": { "$ne": post_id } },
                doc! { "$push": { "bookmarks": post_id } },
            ))
            .await?;
        Ok(done.modified_count == 1)
    } else {
        let done = mongo
            .timed(profiles.update_one(
                doc! { "userId": uid, "bookmarks": post_id },
                doc! { "$pull": { "bookmarks": post_id } },
            ))
            .await?;
        Ok(done.modified_count == 1)
    }
}

/// How many profiles have a username matching the regular expression `pattern`. Not
/// time-limited: it reads every profile (for the seed, before it writes anything).
pub async fn count_named_like(mongo: &Mongo, pattern: &str) -> Result<u64, MongoError> {
    let profiles = mongo.db().collection::<Document>(USER_PROFILES);
    Ok(profiles
        .count_documents(doc! { "username": { "$regex": pattern } })
        .await?)
}

/// The ids of the posts `user_id` bookmarked, most recent last.
pub async fn bookmarks(
    mongo: &Mongo,
    user_id: u64,
) -> Result<Vec<mongodb::bson::oid::ObjectId>, MongoError> {
    Ok(bookmarks_of(find(mongo, user_id).await?.as_ref()))
}
