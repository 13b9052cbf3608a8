//! Seeded posts and comments: Zipf authors and tags, Pareto likes and views, comments on
//! the popular posts, bodies of tech prose; written as [`PostDocument`]s and [`Comment`]s.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use mongodb::bson::{oid::ObjectId, Document};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Pareto};
use techhub_content::bulk::BATCH as MONGO_BATCH;
use techhub_content::comments::Comment;
use techhub_content::favorites;
use techhub_content::posts::{self, Engagement, Metadata, Post, PostDocument, Seo, DIFFICULTIES};
use techhub_content::schema::{COMMENTS, FAVORITES, POSTS};
use techhub_core::domain::PostStatus;

use super::vocabulary::{COMMENT_BODIES, OPENERS, TAGS, TOPICS, WORDS};
use super::{bar, epoch, insert_all, Ranked, Step, Summary};

/// A post's body: a few Markdown paragraphs of tech prose around its topic.
fn body(rng: &mut StdRng, words: &Ranked, topic: &str, tags: &[String]) -> String {
    let paragraphs = rng.random_range(2..6);
    let mut out = String::with_capacity(1_500);
    out.push_str(&format!("## {topic}\n\n"));
    for p in 0..paragraphs {
        let sentences = rng.random_range(2..5);
        for _ in 0..sentences {
            let n = rng.random_range(8..18);
            for w in 0..n {
                let word = if rng.random_bool(0.08) {
                    tags[rng.random_range(0..tags.len())].as_str()
                } else if rng.random_bool(0.04) {
                    topic
                } else {
                    WORDS[words.sample(rng)]
                };
                if w == 0 {
                    let mut c = word.chars();
                    if let Some(first) = c.next() {
                        out.extend(first.to_uppercase());
                        out.push_str(c.as_str());
                    }
                } else {
                    out.push(' ');
                    out.push_str(word);
                }
            }
            out.push_str(". ");
        }
        out.push_str("\n\n");
        if p == 0 && rng.random_bool(0.5) {
            out.push_str("```rust\nlet answer = compute(&input).await?;\n```\n\n");
        }
    }
    out
}

pub(super) async fn seed_posts(
    step: &Step<'_>,
    rng: &mut StdRng,
    summary: &mut Summary,
) -> anyhow::Result<Vec<String>> {
    let (stores, users, sizes, multi) = (step.stores, step.users, step.sizes, step.multi);
    let t = Instant::now();
    let n_posts = sizes.posts as usize;
    // Comments go to popular posts: Zipf over a shuffled order of posts.
    let mut comment_counts = vec![0u32; n_posts];
    if n_posts > 0 {
        let mut order: Vec<u32> = (0..n_posts as u32).collect();
        order.shuffle(rng);
        let popular = Ranked::new(n_posts as u64, 1.05);
        for _ in 0..sizes.comments {
            comment_counts[order[popular.sample(rng)] as usize] += 1;
        }
    }
    let posts_bar = bar(multi, "mongodb posts", sizes.posts);
    let comments_bar = bar(multi, "mongodb comments", sizes.comments);
    let (post_tx, post_rx) = tokio::sync::mpsc::channel::<Vec<Document>>(6);
    let (comment_tx, comment_rx) = tokio::sync::mpsc::channel::<Vec<Document>>(6);
    // How many favorites there are is known as they are drawn: the bar grows with them.
    let favorites_bar = bar(multi, "mongodb favorites", 0);
    let (favorite_tx, favorite_rx) = tokio::sync::mpsc::channel::<Vec<Document>>(6);
    let favorites_drawn = favorites_bar.clone();
    let ids: Arc<Vec<(u64, String, DateTime<Utc>)>> = Arc::new(
        users
            .iter()
            .map(|u| (u.id, u.name.clone(), u.created))
            .collect(),
    );
    let mut gen_rng = StdRng::seed_from_u64(rng.random());
    // Generation runs on a blocking thread; the writers insert while it produces.
    let generator = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let authors = Ranked::new(ids.len() as u64, 0.9);
        let tags = Ranked::new(TAGS.len() as u64, 1.0);
        let commenters = Ranked::new(ids.len() as u64, 0.7);
        let words = Ranked::new(WORDS.len() as u64, 1.0);
        let popularity = Pareto::new(1.0, 1.16).expect("valid Pareto");
        let mut slugs = Vec::new();
        let mut posts = Vec::with_capacity(MONGO_BATCH);
        let mut comments = Vec::with_capacity(MONGO_BATCH);
        let mut favorites = Vec::with_capacity(MONGO_BATCH);
        let send = |tx: &tokio::sync::mpsc::Sender<Vec<Document>>, batch: &mut Vec<Document>| {
            let full = std::mem::replace(batch, Vec::with_capacity(MONGO_BATCH));
            tx.blocking_send(full).is_ok()
        };
        for (i, &n_comments) in comment_counts.iter().enumerate() {
            let rng = &mut gen_rng;
            let (author, _, joined) = &ids[authors.sample(rng)];
            let since_join = (epoch() - *joined).num_seconds().max(3_600);
            let created = epoch() - chrono::Duration::seconds(rng.random_range(0..since_join));
            let mut post_tags: Vec<String> = (0..rng.random_range(1..=4))
                .map(|_| TAGS[tags.sample(rng)].to_string())
                .collect();
            post_tags.dedup();
            post_tags.sort();
            post_tags.dedup();
            let topic = TOPICS[rng.random_range(0..TOPICS.len())];
            let opener = OPENERS[rng.random_range(0..OPENERS.len())];
            let title = format!("{opener} {topic} in {}", post_tags[0]);
            let slug = format!("{}-{}", posts::slug_base(&title), i + 1);
            let description = format!(
                "{opener} {topic}: what we learned using {}.",
                post_tags.join(", ")
            );
            let body = body(rng, &words, topic, &post_tags);
            let draft = rng.random_bool(0.03);
            let (likes, views, n_comments) = if draft {
                (0u64, 0u64, 0u32)
            } else {
                let p = popularity.sample(rng);
                let likes = ((p - 1.0) * 3.0) as u64;
                let views = likes * rng.random_range(8..40) + rng.random_range(0..50);
                (likes.min(ids.len() as u64), views, n_comments)
            };
            let mut favorited: Vec<u64> = (0..likes)
                .map(|_| ids[rng.random_range(0..ids.len())].0)
                .collect();
            favorited.sort_unstable();
            favorited.dedup();
            let id = ObjectId::from_bytes(object_id_bytes(created, rng));
            let when = mongodb::bson::DateTime::from_millis(created.timestamp_millis());
            let difficulty = DIFFICULTIES[rng.random_range(0..DIFFICULTIES.len())];
            if !draft {
                slugs.push(slug.clone());
            }
            let post = Post {
                id,
                slug,
                estimated_read_time: posts::estimated_read_time(&body),
                metadata: Metadata {
                    seo: Seo {
                        title: title.clone(),
                        description: description.clone(),
                        keywords: post_tags.clone(),
                    },
                },
                title,
                description,
                body,
                author_id: *author,
                status: if draft {
                    PostStatus::Draft
                } else {
                    PostStatus::Published
                },
                tags: post_tags,
                categories: vec![topic.to_string()],
                difficulty: Some(difficulty.to_string()),
                engagement: Engagement {
                    views: views as i64,
                    likes: favorited.len() as i64,
                    comments: n_comments as i64,
                    bookmarks: 0,
                },
                published_at: (!draft).then_some(when),
                version: 1,
                change_seq: 1,
                created_at: when,
                updated_at: when,
            };
            // Each favorite is also its own document, counted in the post (see
            // `techhub_content::favorites`).
            favorites.extend(favorites::counted_documents(id, 1, &favorited));
            if favorites.len() >= MONGO_BATCH {
                favorites_drawn.inc_length(favorites.len() as u64);
                if !send(&favorite_tx, &mut favorites) {
                    return Ok(slugs);
                }
            }
            let document = PostDocument {
                post,
                favorited_by: favorited,
                pending_events: Vec::new(),
                events_due_at: None,
                created_event: None,
                changed_at: when,
            };
            posts.push(document.to_bson()?);
            if posts.len() == MONGO_BATCH && !send(&post_tx, &mut posts) {
                return Ok(slugs);
            }
            for c in 0..n_comments {
                let after = (epoch() - created).num_seconds().max(60);
                let at = created + chrono::Duration::seconds(rng.random_range(0..after));
                let at = mongodb::bson::DateTime::from_millis(at.timestamp_millis());
                let comment_id = ObjectId::from_bytes(object_id_bytes(created, rng));
                let commenter = ids[commenters.sample(rng)].0;
                let text = COMMENT_BODIES[(c as usize + i) % COMMENT_BODIES.len()];
                let comment = Comment {
                    id: comment_id,
                    ..Comment::new(id, commenter, &format!("{text} ({})", c + 1), at)
                };
                comments.push(comment.to_bson()?);
                if comments.len() == MONGO_BATCH && !send(&comment_tx, &mut comments) {
                    return Ok(slugs);
                }
            }
        }
        if !posts.is_empty() {
            send(&post_tx, &mut posts);
        }
        if !comments.is_empty() {
            send(&comment_tx, &mut comments);
        }
        if !favorites.is_empty() {
            favorites_drawn.inc_length(favorites.len() as u64);
            send(&favorite_tx, &mut favorites);
        }
        Ok(slugs)
    });
    let (posts_written, comments_written, favorites_written) = tokio::try_join!(
        insert_all(stores, POSTS, post_rx, &posts_bar),
        insert_all(stores, COMMENTS, comment_rx, &comments_bar),
        insert_all(stores, FAVORITES, favorite_rx, &favorites_bar),
    )?;
    let slugs = generator.await??;
    posts_bar.finish();
    comments_bar.finish();
    favorites_bar.finish();
    let took = t.elapsed();
    summary.add("mongodb posts", posts_written, took);
    summary.add("mongodb comments", comments_written, took);
    summary.add("mongodb favorites", favorites_written, took);
    Ok(slugs)
}

/// ObjectId bytes with the given creation time and random rest (reproducible from the seed).
pub(super) fn object_id_bytes(at: DateTime<Utc>, rng: &mut StdRng) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&(at.timestamp() as u32).to_be_bytes());
    rng.fill(&mut bytes[4..]);
    bytes
}
