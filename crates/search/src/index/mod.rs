//! The post index: one Tantivy document per published post, in one folder per server. This
//! module opens it and applies changes; [`schema`] says what a document holds,
//! [`freshness`] tracks which writes of this process the index shows (read your writes),
//! [`query`] searches it (BM25, boosts, typos, highlights) and [`lists`] serves the
//! newest-first article lists and tag counts from it. Every commit stores the change-feed
//! checkpoint it covers, so a restarted server resumes where its index left off.

mod freshness;
mod lists;
mod query;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use tokio::sync::watch;

use freshness::Created;
pub use freshness::LocalWrite;
pub use lists::{ListPage, ListQuery};
pub use query::{
    Hit, SearchPage, SearchQuery, BODY_BOOST, TAGS_BOOST, TITLE_BOOST, TYPO_MIN_CHARS,
};

use freshness::LocalWrites;
use schema::{schema, Fields};

/// Bumped whenever the schema or the analysis changes: an index of another version is rebuilt.
const SCHEMA_VERSION: u32 = 4;
/// The writer's indexing memory (Tantivy's minimum is 15 MB).
const WRITER_HEAP: usize = 32 * 1024 * 1024;
/// How long the index remembers which change of a post it shows: longer than a writer's
/// writes are looked for on their reads (`techhub_cache::own_writes::WINDOW`).
pub const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// A post as the index holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedPost {
    /// MongoDB `_id`, hex.
    pub id: String,
    pub slug: String,
    pub author_id: u64,
    pub title: String,
    pub tags: Vec<String>,
    pub difficulty: Option<String>,
    /// Plain text of the Markdown body.
    pub body_text: String,
    /// When it was published, Unix milliseconds (lists are newest first).
    pub published_ms: i64,
    /// Users who favorited it.
    pub favorited_by: Vec<u64>,
    /// The post's change number in MongoDB when it was read (see [`SearchIndex::shows`]).
    pub change_seq: i64,
}

/// One change to apply.
#[derive(Clone, Debug)]
pub enum IndexChange {
    /// Add or replace the post.
    Upsert(IndexedPost),
    /// Remove the post (deleted, unpublished) if present.
    Remove(String),
}

/// Where the index stands in the posts change feed: every change before `low_ms` (Unix
/// milliseconds of `changedAt`) is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub schema: u32,
    pub low_ms: i64,
}

/// Tags with their post counts, as counted at a commit: (commit, limit, tags).
pub(crate) type TagCount = (u64, usize, std::sync::Arc<Vec<(String, u64)>>);

/// The index in one directory, opened for reading and writing by this process.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// Scans of MongoDB for changes started so far (see [`SearchIndex::begin_scan`]).
    scans: std::sync::atomic::AtomicU64,
    /// The latest scan whose findings are searchable (see [`SearchIndex::covered`]).
    covered: watch::Sender<u64>,
    /// Content writes of this process, for the indexer's short scans (see
    /// [`SearchIndex::write_starting`]).
    writes: Mutex<LocalWrites>,
    /// The change numbers of the posts changed lately, as searches see them (see
    /// [`SearchIndex::shows`]).
    shown: Mutex<std::collections::HashMap<String, (i64, std::time::Instant)>>,
    /// Posts this process just created, as written (see [`SearchIndex::created`]).
    created: Mutex<Created>,
    /// Commits so far; what [`SearchIndex::tags_now`] last counted, and at which commit.
    commits: std::sync::atomic::AtomicU64,
    tags_counted: Mutex<Option<TagCount>>,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (empty, without a checkpoint) when missing or of
    /// another schema version. Fails when another process holds the index.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the search index folder {}", dir.display()))?;
        let schema = schema().0;
        let existing = match Index::open_in_dir(dir) {
            Ok(index) => {
                let current = index
                    .load_metas()
                    .ok()
                    .and_then(|m| m.payload)
                    .and_then(|p| serde_json::from_str::<Checkpoint>(&p).ok())
                    .map(|c| c.schema);
                (current == Some(SCHEMA_VERSION) && index.schema() == schema).then_some(index)
            }
            Err(_) => None,
        };
        let index = match existing {
            Some(index) => index,
            None => {
                // Not an index of this version: start over in an emptied folder.
                for entry in std::fs::read_dir(dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)?;
                    } else {
                        std::fs::remove_file(&path)?;
                    }
                }
                Index::create_in_dir(dir, schema)
                    .with_context(|| format!("creating the search index in {}", dir.display()))?
            }
        };
        Self::from_index(dir, index)
    }

    /// A throw-away index in memory, holding only `posts`: the writer's own recent writes,
    /// searched with the same analysis and scoring as the real index (see
    /// [`SearchIndex::search_with`]).
    pub fn in_memory(posts: &[IndexedPost]) -> anyhow::Result<Self> {
        let index = Index::create_in_ram(schema().0);
        let memory = Self::from_index(Path::new(""), index)?;
        let changes: Vec<IndexChange> = posts.iter().cloned().map(IndexChange::Upsert).collect();
        memory.apply(false, &changes, 0)?;
        Ok(memory)
    }

    fn from_index(dir: &Path, index: Index) -> anyhow::Result<Self> {
        let fields = schema().1;
        let writer = index.writer_with_num_threads(1, WRITER_HEAP).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => anyhow::anyhow!(
                "the search index in {} is in use by another TechHub process (a running server?); stop it first",
                dir.display()
            ),
            e => anyhow::Error::new(e).context("opening the search index writer"),
        })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            scans: Default::default(),
            covered: watch::Sender::new(0),
            writes: Mutex::new(LocalWrites {
                next: 0,
                in_flight: BTreeMap::new(),
                finished_min: i64::MAX,
            }),
            shown: Default::default(),
            created: Default::default(),
            commits: Default::default(),
            tags_counted: Default::default(),
        })
    }

    /// Records that searches now see each post of `changes` (hex id) at the change number
    /// given (`i64::MAX` for a post gone from MongoDB). Forgets what was recorded longer
    /// than [`SHOWN_FOR`] ago: by then a writer's reads no longer look for their writes.
    pub fn record_shown(&self, changes: &[(String, i64)]) {
        let now = std::time::Instant::now();
        let mut shown = self.shown.lock().expect("shown lock poisoned");
        shown.retain(|_, (_, at)| now.duration_since(*at) < SHOWN_FOR);
        for (id, seq) in changes {
            let entry = shown.entry(id.clone()).or_insert((*seq, now));
            if *seq >= entry.0 {
                *entry = (*seq, now);
            }
        }
    }

    /// Whether searches see the post `id` (hex) at change number `seq` or later, as far as
    /// this process recorded in the last [`SHOWN_FOR`]; false when it does not know.
    pub fn shows(&self, id: &str, seq: i64) -> bool {
        let shown = self.shown.lock().expect("shown lock poisoned");
        shown.get(id).is_some_and(|(at, _)| *at >= seq)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The change-feed position of the last commit; `None` for a new (or rebuilt-from-nothing)
    /// index, which must be filled from MongoDB first.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.index
            .load_metas()
            .ok()?
            .payload
            .and_then(|p| serde_json::from_str::<Checkpoint>(&p).ok())
            .filter(|c| c.schema == SCHEMA_VERSION)
    }

    /// How many posts the index holds (as of the last commit).
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn document(&self, post: &IndexedPost) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &post.id);
        doc.add_text(f.slug, &post.slug);
        doc.add_text(f.title, &post.title);
        for tag in &post.tags {
            doc.add_text(f.tags, tag);
            doc.add_text(f.tag, tag);
        }
        doc.add_text(f.body, &post.body_text);
        if let Some(d) = &post.difficulty {
            doc.add_text(f.difficulty, d);
        }
        doc.add_u64(f.author, post.author_id);
        doc.add_i64(f.published, post.published_ms);
        for fan in &post.favorited_by {
            doc.add_u64(f.fan, *fan);
        }
        doc
    }

    /// Applies `changes` and commits them together with `low_ms` as the new checkpoint, then
    /// makes them visible to searches. `clear` first removes every post (a rebuild).
    /// Blocking: call from a blocking thread.
    pub fn apply(&self, clear: bool, changes: &[IndexChange], low_ms: i64) -> anyhow::Result<()> {
        let mut writer = self.writer.lock().expect("search writer lock poisoned");
        if clear {
            writer.delete_all_documents()?;
        }
        for change in changes {
            match change {
                IndexChange::Upsert(post) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, &post.id));
                    writer.add_document(self.document(post))?;
                }
                IndexChange::Remove(id) => {
                    writer.delete_term(Term::from_field_text(self.fields.id, id));
                }
            }
        }
        self.commit(&mut writer, low_ms)
    }

    /// Adds posts without committing (the pages of a rebuild); [`SearchIndex::apply`] with no
    /// changes commits them.
    pub fn add_uncommitted(&self, posts: &[IndexedPost]) -> anyhow::Result<()> {
        let writer = self.writer.lock().expect("search writer lock poisoned");
        for post in posts {
            writer.delete_term(Term::from_field_text(self.fields.id, &post.id));
            writer.add_document(self.document(post))?;
        }
        Ok(())
    }

    /// Starts a rebuild: every post is removed at the next commit.
    pub fn clear_uncommitted(&self) -> anyhow::Result<()> {
        let writer = self.writer.lock().expect("search writer lock poisoned");
        writer.delete_all_documents()?;
        Ok(())
    }

    fn commit(&self, writer: &mut IndexWriter, low_ms: i64) -> anyhow::Result<()> {
        let payload = serde_json::to_string(&Checkpoint {
            schema: SCHEMA_VERSION,
            low_ms,
        })?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A post with this id, title, tags and body, by author 1, published at 0.
    pub(crate) fn post(id: &str, title: &str, tags: &[&str], body: &str) -> IndexedPost {
        IndexedPost {
            id: id.into(),
            slug: format!("{id}-slug"),
            author_id: 1,
            title: title.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            difficulty: Some("beginner".into()),
            body_text: body.into(),
            published_ms: 0,
            favorited_by: Vec::new(),
            change_seq: 1,
        }
    }
}
