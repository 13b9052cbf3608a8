//! `user_profiles`: the content side of a user (display name, bio, image, preferences,
//! following, bookmarks), projected from the accounts store's events.

use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use serde::Serialize;
use techhub_core::domain::Theme;
use techhub_core::events::UserSnapshot;
use uuid::Uuid;

use crate::schema::USER_PROFILES;
use crate::{Mongo, MongoError};

/// How many applied event ids a profile remembers (newest last).
const REMEMBERED_EVENTS: i32 = 20;

/// The preferences every new profile starts with.
pub fn default_preferences() -> Document {
    Preferences::default().to_document()
}

/// A user's preferences (`preferences` in their profile): the web app's colour theme, the
/// language, and which emails they want.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preferences {
    pub theme: Theme,
    /// A language tag (`en`, `pt-BR`).
    pub language: String,
    pub email_notifications: bool,
    pub weekly_digest: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            theme: Theme::System,
            language: "en".into(),
            email_notifications: true,
            weekly_digest: true,
        }
    }
}

impl Preferences {
    /// The preferences a profile's `preferences` document holds; a field missing or of
    /// another type (profiles written before it existed, by hand) reads as its default.
    pub fn from_document(stored: Option<&Document>) -> Self {
        let mut prefs = Preferences::default();
        let Some(d) = stored else { return prefs };
        if let Some(theme) = d.get_str("theme").ok().and_then(|t| Theme::parse(t).ok()) {
            prefs.theme = theme;
        }
        if let Ok(language) = d.get_str("language") {
            prefs.language = language.to_string();
        }
        if let Ok(on) = d.get_bool("emailNotifications") {
            prefs.email_notifications = on;
        }
        if let Ok(on) = d.get_bool("weeklyDigest") {
            prefs.weekly_digest = on;
        }
        prefs
    }

    pub fn to_document(&self) -> Document {
        doc! {
            "theme": self.theme.as_str(),
            "language": &self.language,
            "emailNotifications": self.email_notifications,
            "weeklyDigest": self.weekly_digest,
        }
    }

    /// These preferences with `changes` applied.
    pub fn with(mut self, changes: &PreferenceChanges) -> Self {
        if let Some(theme) = changes.theme {
            self.theme = theme;
        }
        if let Some(language) = &changes.language {
            self.language = language.clone();
        }
        if let Some(on) = changes.email_notifications {
            self.email_notifications = on;
        }
        if let Some(on) = changes.weekly_digest {
            self.weekly_digest = on;
        }
        self
    }
}

/// Preferences to change; `None` leaves one as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreferenceChanges {
    pub theme: Option<Theme>,
    pub language: Option<String>,
    pub email_notifications: Option<bool>,
    pub weekly_digest: Option<bool>,
}

impl PreferenceChanges {
    pub fn is_empty(&self) -> bool {
        *self == PreferenceChanges::default()
    }

    /// The `$set` of the changed fields, each by its own path, so a change leaves the other
    /// preferences as they are (also those another request changes at the same moment).
    fn set(&self) -> Document {
        let mut set = Document::new();
        if let Some(theme) = self.theme {
            set.insert("preferences.theme", theme.as_str());
        }
        if let Some(language) = &self.language {
            set.insert("preferences.language", language.as_str());
        }
        if let Some(on) = self.email_notifications {
            set.insert("preferences.emailNotifications", on);
        }
        if let Some(on) = self.weekly_digest {
            set.insert("preferences.weeklyDigest", on);
        }
        set.insert("updatedAt", DateTime::now());
        set
    }
}

/// `user_id`'s preferences: the defaults while they have no profile yet (the projection of
/// their registration has not run).
pub async fn preferences(mongo: &Mongo, user_id: u64) -> Result<Preferences, MongoError> {
    let profile = find(mongo, user_id).await?;
    Ok(Preferences::from_document(
        profile
            .as_ref()
            .and_then(|p| p.get_document("preferences").ok()),
    ))
}

/// Changes `user_id`'s preferences and returns them all as they are now. A user without a
/// profile yet (the projection is asynchronous) gets one here, with `username` and the
/// changed defaults; the projection completes it, keeping the preferences.
pub async fn set_preferences(
    mongo: &Mongo,
    user_id: u64,
    username: &str,
    changes: &PreferenceChanges,
) -> Result<Preferences, MongoError> {
    let profiles = mongo.db().collection::<Document>(USER_PROFILES);
    let filter = doc! { "userId": user_id as i64 };
    let update = doc! { "$set": changes.set() };
    let options = mongodb::options::FindOneAndUpdateOptions::builder()
        .return_document(mongodb::options::ReturnDocument::After)
        .projection(doc! { "preferences": 1 })
        .build();
    let updated = mongo
        .timed(
            profiles
                .find_one_and_update(filter.clone(), update.clone())
                .with_options(options.clone()),
        )
        .await?;
    if let Some(profile) = updated {
        return Ok(Preferences::from_document(
            profile.get_document("preferences").ok(),
        ));
    }
    // No profile yet: create it with the changes, unless one appeared meanwhile (the
    // projection ran), which then takes the changes like any other.
    let wanted = Preferences::default().with(changes);
    let created = ProfileDocument {
        preferences: wanted.to_document(),
        ..ProfileDocument::new(user_id, username, DateTime::now())
    };
    let inserted = mongo
        .timed(
            profiles
                .update_one(
                    filter.clone(),
                    doc! { "$setOnInsert": created.on_insert(&[])? },
                )
                .upsert(true),
        )
        .await;
    match inserted {
        Ok(done) if done.upserted_id.is_some() => return Ok(wanted),
        Ok(_) => {}
        // Created concurrently by another upsert: change that one.
        Err(e) if is_duplicate_user_id(&e) => {}
        Err(e) => return Err(e),
    }
    let updated = mongo
        .timed(
            profiles
                .find_one_and_update(filter, update)
                .with_options(options),
        )
        .await?;
    Ok(Preferences::from_document(
        updated
            .as_ref()
            .and_then(|p| p.get_document("preferences").ok()),
    ))
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
