//! The post index: one Tantivy document per published post. Title, tags and body text are
//! searched with BM25 and the boosts title 10, tags 5, body 1; each query word of five letters
//! or more also matches terms one edit away (a typo, including a swapped pair of letters), at
//! half weight so exact matches rank first. `tag`, `difficulty` and `author` filter without
//! changing scores. Every commit stores the change-feed checkpoint it covers, so a restarted
//! server resumes where its index left off.
//!
//! The index also serves the newest-first article lists (all, by tag, by authors — the feed)
//! with their counts, and the tag counts behind `/api/tags`: MongoDB holds the posts, but a
//! sorted page of a large match is the one read it cannot answer quickly at a million posts.
//! `published` (milliseconds) is a fast field, so a page is a top-k over the matching ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term, TERMINATED,
};
use tokio::sync::watch;

/// Bumped whenever the schema or the analysis changes: an index of another version is rebuilt.
const SCHEMA_VERSION: u32 = 4;
/// Field boosts.
pub const TITLE_BOOST: f32 = 10.0;
pub const TAGS_BOOST: f32 = 5.0;
pub const BODY_BOOST: f32 = 1.0;
/// Words at least this long also match terms one edit away.
pub const TYPO_MIN_CHARS: usize = 5;
/// A typo match counts this much of an exact one.
const TYPO_WEIGHT: f32 = 0.5;
/// At most this many dictionary terms stand in for one misspelt word per field.
const MAX_EXPANSIONS: usize = 32;
/// The writer's indexing memory (Tantivy's minimum is 15 MB).
const WRITER_HEAP: usize = 32 * 1024 * 1024;

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

/// What to search for.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub text: String,
    pub tag: Option<String>,
    pub difficulty: Option<String>,
    /// Only posts by this user id.
    pub author_id: Option<u64>,
    pub limit: usize,
    pub offset: usize,
}

/// One ranked hit, with HTML snippets whose matched words are wrapped in `<mark>`; the text
/// around them is HTML-escaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: String,
    /// The post's slug when it was indexed (the article cache's key).
    pub slug: String,
    pub score: f32,
    pub title_html: String,
    pub body_html: String,
}

/// Which published posts to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub tag: Option<String>,
    /// Posts by any of these authors (an empty list matches nothing).
    pub authors: Option<Vec<u64>>,
    /// Posts this user favorited.
    pub favorited_by: Option<u64>,
    pub limit: usize,
    pub offset: usize,
}

/// One page of a list: post ids (hex) newest first with their slugs, and how many posts
/// match in all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    pub ids: Vec<String>,
    pub slugs: Vec<String>,
    pub total: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    pub total: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    slug: Field,
    title: Field,
    tags: Field,
    tag: Field,
    body: Field,
    difficulty: Field,
    author: Field,
    published: Field,
    fan: Field,
}

const PUBLISHED: &str = "published";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        slug: b.add_text_field("slug", STORED),
        title: b.add_text_field("title", TEXT | STORED),
        tags: b.add_text_field("tags", TEXT),
        tag: b.add_text_field("tag", STRING),
        body: b.add_text_field("body", TEXT | STORED),
        difficulty: b.add_text_field("difficulty", STRING),
        author: b.add_u64_field("author", INDEXED | FAST),
        published: b.add_i64_field(PUBLISHED, FAST),
        fan: b.add_u64_field("fan", INDEXED),
    };
    (b.build(), fields)
}

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
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (empty, without a checkpoint) when missing or of
    /// another schema version. Fails when another process holds the index.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the search index folder {}", dir.display()))?;
        let (schema, fields) = schema();
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
        })
    }

    /// The indexer starts reading MongoDB for changes: returns the scan's number, to pass to
    /// [`SearchIndex::mark_covered`] once what it read is searchable. Scans are numbered, not
    /// timed: a scan that started after a write finished sees it, and a clock's millisecond is
    /// too coarse to tell "after" (a nudged indexer often starts within the write's).
    pub fn begin_scan(&self) -> u64 {
        self.scans.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// What scan `scan` read is now searchable.
    pub fn mark_covered(&self, scan: u64) {
        self.covered.send_if_modified(|c| {
            let newer = scan > *c;
            if newer {
                *c = scan;
            }
            newer
        });
    }

    /// For a write that just finished: the ticket to wait on with [`SearchIndex::covered`].
    pub fn write_ticket(&self) -> u64 {
        self.scans.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Registers a content write of this process about to stamp `changedAt` (held until the
    /// write is done), so the indexer's short scans reach back to it: a scan that starts after
    /// the write finished reads from no later than its stamp (see
    /// [`SearchIndex::short_scan_from`]). Writes of other processes are found by the
    /// indexer's full scans.
    pub fn write_starting(self: &std::sync::Arc<Self>) -> LocalWrite {
        let stamp = now_ms();
        let mut w = self.writes.lock().expect("local writes lock poisoned");
        let id = w.next;
        w.next += 1;
        w.in_flight.insert(id, stamp);
        LocalWrite {
            index: self.clone(),
            id,
            stamp,
        }
    }

    /// Where a short scan starting now must begin reading (Unix ms) to see every write of
    /// this process that finished before it: no later than the previous scan's start
    /// (`previous_start_ms`), nor than the stamp of a write in flight or finished since that
    /// scan began reading. Resets the finished writes for the next scan.
    pub fn short_scan_from(&self, previous_start_ms: i64) -> i64 {
        let mut w = self.writes.lock().expect("local writes lock poisoned");
        let in_flight = w.in_flight.values().copied().min().unwrap_or(i64::MAX);
        let from = previous_start_ms.min(in_flight).min(w.finished_min);
        w.finished_min = i64::MAX;
        // A millisecond clock: the same instant may be stamped on either side.
        from - SHORT_SCAN_MARGIN_MS
    }

    /// Waits until a scan that started after the write of `ticket` is searchable, at most
    /// `limit`. False if none is by then (the indexer is behind or failing).
    pub async fn covered(&self, ticket: u64, limit: std::time::Duration) -> bool {
        let mut rx = self.covered.subscribe();
        let reached = tokio::time::timeout(limit, rx.wait_for(|c| *c > ticket)).await;
        matches!(reached, Ok(Ok(_)))
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
        Ok(())
    }

    /// The words of `text` as the index analyses them (lower-cased, split on non-letters).
    fn words(&self, text: &str) -> anyhow::Result<Vec<String>> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.title)?;
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while stream.advance() {
            let w = stream.token().text.clone();
            if !words.contains(&w) {
                words.push(w);
            }
        }
        Ok(words)
    }

    /// Terms of `field` one edit away from `word` (excluding `word`), from every segment.
    fn near_terms(
        &self,
        searcher: &tantivy::Searcher,
        field: Field,
        word: &str,
    ) -> anyhow::Result<BTreeSet<String>> {
        let automaton =
            FuzzyTermQuery::new(Term::from_field_text(field, word), 1, true).automaton()?;
        let mut found = BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted.terms().search(&automaton).into_stream()?;
            while stream.advance() && found.len() < MAX_EXPANSIONS {
                if let Ok(term) = std::str::from_utf8(stream.key()) {
                    if term != word {
                        found.insert(term.to_string());
                    }
                }
            }
        }
        Ok(found)
    }

    fn query(
        &self,
        searcher: &tantivy::Searcher,
        q: &SearchQuery,
    ) -> anyhow::Result<Option<Box<dyn Query>>> {
        let f = self.fields;
        let words = self.words(&q.text)?;
        if words.is_empty() {
            return Ok(None);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in &words {
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, boost) in [
                (f.title, TITLE_BOOST),
                (f.tags, TAGS_BOOST),
                (f.body, BODY_BOOST),
            ] {
                let term = |text: &str| -> Box<dyn Query> {
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, text),
                        IndexRecordOption::WithFreqs,
                    ))
                };
                alternatives.push((Occur::Should, Box::new(BoostQuery::new(term(word), boost))));
                if word.chars().count() >= TYPO_MIN_CHARS {
                    for near in self.near_terms(searcher, field, word)? {
                        alternatives.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(term(&near), boost * TYPO_WEIGHT)),
                        ));
                    }
                }
            }
            // Every word must match somewhere (in any field, exactly or with a typo).
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
        }
        // Filters must match but add nothing to the score.
        let filter = |value: Term| -> (Occur, Box<dyn Query>) {
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(value, IndexRecordOption::Basic)),
                    0.0,
                )),
            )
        };
        if let Some(tag) = &q.tag {
            clauses.push(filter(Term::from_field_text(f.tag, tag)));
        }
        if let Some(d) = &q.difficulty {
            clauses.push(filter(Term::from_field_text(f.difficulty, d)));
        }
        if let Some(a) = q.author_id {
            clauses.push(filter(Term::from_field_u64(f.author, a)));
        }
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// Ranked posts matching `q`, best first. Blocking: call from a blocking thread.
    pub fn search(&self, q: &SearchQuery) -> anyhow::Result<SearchPage> {
        let searcher = self.reader.searcher();
        let Some(query) = self.query(&searcher, q)? else {
            return Ok(SearchPage::default());
        };
        let limit = q.limit.max(1);
        let (top, total) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(limit)
                    .and_offset(q.offset)
                    .order_by_score(),
                Count,
            ),
        )?;
        let mut titles = SnippetGenerator::create(&searcher, &*query, self.fields.title)?;
        titles.set_max_num_chars(300);
        let mut bodies = SnippetGenerator::create(&searcher, &*query, self.fields.body)?;
        bodies.set_max_num_chars(200);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| stored_text(&doc, field);
            let title = text(self.fields.title);
            let body = text(self.fields.body);
            let title_snippet = titles.snippet(&title);
            let mut body_snippet = bodies.snippet(&body);
            body_snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            hits.push(Hit {
                id: text(self.fields.id),
                slug: text(self.fields.slug),
                score,
                // A title is short: show it whole, highlighted where it matched.
                title_html: if title_snippet.is_empty() {
                    escape(&title)
                } else {
                    highlight_whole(&title, &title_snippet)
                },
                body_html: if body_snippet.is_empty() {
                    escape(&body.chars().take(200).collect::<String>())
                } else {
                    body_snippet.to_html()
                },
            });
        }
        Ok(SearchPage { hits, total })
    }

    /// One page of published posts matching `q`, newest first, and how many match. Posts
    /// published in the same millisecond come newest id first, as MongoDB's order has them.
    /// Blocking: call from a blocking thread.
    pub fn list(&self, q: &ListQuery) -> anyhow::Result<ListPage> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(tag) = &q.tag {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.tag, tag),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if let Some(authors) = &q.authors {
            if authors.is_empty() {
                return Ok(ListPage::default());
            }
            let terms = authors.iter().map(|a| Term::from_field_u64(f.author, *a));
            clauses.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
        }
        if let Some(fan) = q.favorited_by {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.fan, fan),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let searcher = self.reader.searcher();
        // How many match: for one term without deletes, its document frequency (no scan).
        let total = query.count(&searcher)?;
        let wanted = q.offset + q.limit.max(1);
        let top = |query: &dyn Query| {
            searcher.search(
                query,
                &(
                    TopDocs::with_limit(q.limit.max(1))
                        .and_offset(q.offset)
                        .order_by_fast_field::<i64>(PUBLISHED, Order::Desc),
                    Count,
                ),
            )
        };
        // The newest `wanted` of a large match are found among the most recently published:
        // ordering the whole match by date costs a visit of every matching post (20 ms for
        // the 400,000 tagged `rust` of a million), a date range from the fast field a SIMD scan
        // of the column. Start with the span that would hold `wanted` posts four times over if
        // publishing were even, and widen it fourfold until it holds `wanted`: then nothing
        // outside it (all older than everything in it) can be among the newest `wanted`.
        let mut found = None;
        if total > wanted && total > WINDOWED_FROM {
            let (oldest, newest) = published_span(&searcher)?;
            let span = (newest - oldest).max(1) as f64;
            let mut width = (span * 4.0 * wanted as f64 / total as f64).ceil() as i64;
            while newest - width > oldest {
                let since = newest - width;
                let windowed = BooleanQuery::new(vec![
                    (Occur::Must, query.box_clone()),
                    (
                        Occur::Must,
                        Box::new(RangeQuery::new(
                            std::ops::Bound::Included(Term::from_field_i64(f.published, since)),
                            std::ops::Bound::Unbounded,
                        )),
                    ),
                ]);
                let (page, within) = top(&windowed)?;
                if within >= wanted {
                    found = Some(page);
                    break;
                }
                width = width.saturating_mul(4);
            }
        }
        let top = match found {
            Some(page) => page,
            None => top(&*query)?.0,
        };
        let mut page = Vec::with_capacity(top.len());
        for (published, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let (id, slug) = (stored_text(&doc, f.id), stored_text(&doc, f.slug));
            page.push((published.unwrap_or(i64::MIN), id, slug));
        }
        // Ties within the page: newest id (ObjectIds grow with time) first.
        page.sort_by(|a, b| b.cmp(a));
        let (ids, slugs) = page.into_iter().map(|(_, id, slug)| (id, slug)).unzip();
        Ok(ListPage { ids, slugs, total })
    }

    /// Tags of published posts with how many posts carry each, most used first (ties by
    /// name), at most `limit`. Blocking: call from a blocking thread.
    pub fn tags(&self, limit: usize) -> anyhow::Result<Vec<(String, u64)>> {
        let searcher = self.reader.searcher();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.tag)?;
            let alive = segment.alive_bitset();
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                let Ok(tag) = std::str::from_utf8(terms.key()) else {
                    continue;
                };
                let info = terms.value();
                let n = match alive {
                    // No deletes in this segment: the document frequency is exact.
                    None => info.doc_freq as u64,
                    Some(alive) => {
                        let mut postings =
                            inverted.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
                        let mut n = 0;
                        let mut doc = postings.doc();
                        while doc != TERMINATED {
                            if alive.is_alive(doc) {
                                n += 1;
                            }
                            doc = postings.advance();
                        }
                        n
                    }
                };
                if n > 0 {
                    *counts.entry(tag.to_string()).or_default() += n;
                }
            }
        }
        let mut tags: Vec<(String, u64)> = counts.into_iter().collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags.truncate(limit);
        Ok(tags)
    }
}

/// How far before its computed start a short scan reads (see
/// [`SearchIndex::short_scan_from`]).
const SHORT_SCAN_MARGIN_MS: i64 = 50;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Content writes of this process: the stamps of those in flight, and the oldest stamp of
/// those finished since the last short scan began.
struct LocalWrites {
    next: u64,
    in_flight: BTreeMap<u64, i64>,
    finished_min: i64,
}

/// A content write in flight (see [`SearchIndex::write_starting`]); drop it once the write
/// is done, whatever its outcome.
pub struct LocalWrite {
    index: std::sync::Arc<SearchIndex>,
    id: u64,
    stamp: i64,
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        let mut w = self
            .index
            .writes
            .lock()
            .expect("local writes lock poisoned");
        w.in_flight.remove(&self.id);
        w.finished_min = w.finished_min.min(self.stamp);
    }
}

/// Matches at most this large are ordered whole (a millisecond or two); larger ones by date
/// windows (see [`SearchIndex::list`]).
const WINDOWED_FROM: usize = 5_000;

/// The oldest and newest `published` values in the index (deleted posts included, which only
/// widens the span).
fn published_span(searcher: &tantivy::Searcher) -> anyhow::Result<(i64, i64)> {
    let (mut oldest, mut newest) = (i64::MAX, i64::MIN);
    for segment in searcher.segment_readers() {
        if segment.num_docs() == 0 {
            continue;
        }
        let column = segment.fast_fields().i64(PUBLISHED)?;
        oldest = oldest.min(column.min_value());
        newest = newest.max(column.max_value());
    }
    Ok((oldest, newest.max(oldest)))
}

/// The first stored text of `field` in `doc` ("" when absent).
fn stored_text(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The whole of `text`, HTML-escaped, with the snippet's highlighted ranges wrapped in
/// `<mark>`. (A snippet of a short title may cover only part of it.)
fn highlight_whole(text: &str, snippet: &tantivy::snippet::Snippet) -> String {
    let fragment = snippet.fragment();
    let Some(start) = text.find(fragment) else {
        return snippet.to_html();
    };
    let mut out = String::with_capacity(text.len() + 32);
    let mut at = 0;
    for range in snippet.highlighted() {
        let (s, e) = (start + range.start, start + range.end);
        out.push_str(&escape(&text[at..s]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[s..e]));
        out.push_str("</mark>");
        at = e;
    }
    out.push_str(&escape(&text[at..]));
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, title: &str, tags: &[&str], body: &str) -> IndexedPost {
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
        }
    }

    fn listed(
        index: &SearchIndex,
        tag: Option<&str>,
        authors: Option<&[u64]>,
        limit: usize,
        offset: usize,
    ) -> ListPage {
        index
            .list(&ListQuery {
                tag: tag.map(str::to_string),
                authors: authors.map(<[u64]>::to_vec),
                favorited_by: None,
                limit,
                offset,
            })
            .unwrap()
    }

    /// Large matches are ordered through date windows: the pages must be exactly those of
    /// ordering the whole match, however skewed the dates, at any offset, with deletions.
    #[test]
    fn windowed_lists_of_large_matches_equal_the_whole_order() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        // A fixed pseudo-random sequence (no seed to drift between runs).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut all = Vec::new();
        for i in 0..12_000_u64 {
            let r = next();
            // Nine in ten in an old burst, one in ten spread thinly over the long time since:
            // the newest are sparse, so the first window is too narrow and must widen.
            let when = if i % 10 == 0 {
                1_000_000 + (r % 2_000_000_000) as i64
            } else {
                (r % 1_000_000) as i64
            };
            let published_ms = when * 100_000 + i as i64;
            let mut tags = Vec::new();
            if r % 10 < 6 {
                tags.push("common");
            }
            if r % 100 == 7 {
                tags.push("rare");
            }
            let mut p = post(&format!("p{i:05}"), "t", &tags, "b");
            p.published_ms = published_ms;
            p.author_id = 1 + (r >> 32) % 40;
            all.push(p);
        }
        for chunk in all.chunks(3_000) {
            let changes: Vec<IndexChange> =
                chunk.iter().cloned().map(IndexChange::Upsert).collect();
            index.apply(false, &changes, 1).unwrap();
        }
        // Remove every 7th post (segments with deletions).
        let removed: Vec<IndexChange> = all
            .iter()
            .step_by(7)
            .map(|p| IndexChange::Remove(p.id.clone()))
            .collect();
        index.apply(false, &removed, 2).unwrap();
        let alive: Vec<&IndexedPost> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 7 != 0)
            .map(|(_, p)| p)
            .collect();
        let authors: Vec<u64> = (1..=25).collect();
        for (tag, by) in [
            (None, None),
            (Some("common"), None),
            (Some("rare"), None),
            (None, Some(&authors[..])),
        ] {
            let mut matching: Vec<&IndexedPost> = alive
                .iter()
                .copied()
                .filter(|p| tag.is_none_or(|t| p.tags.iter().any(|x| x == t)))
                .filter(|p| by.is_none_or(|a| a.contains(&p.author_id)))
                .collect();
            matching.sort_by_key(|p| std::cmp::Reverse(p.published_ms));
            for offset in [0, 20, 300, 1_000, 6_000, 20_000] {
                let page = listed(&index, tag, by, 20, offset);
                let expected: Vec<String> = matching
                    .iter()
                    .skip(offset)
                    .take(20)
                    .map(|p| p.id.clone())
                    .collect();
                assert_eq!(
                    page.ids, expected,
                    "tag {tag:?}, authors {by:?}, offset {offset}"
                );
                assert_eq!(page.total, matching.len(), "tag {tag:?}, authors {by:?}");
            }
        }
    }

    #[test]
    fn lists_newest_first_by_tag_and_authors_with_counts_and_tag_counts() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let at = |id: &str, author: u64, tags: &[&str], ms: i64| {
            let mut p = post(id, "t", tags, "b");
            p.author_id = author;
            p.published_ms = ms;
            IndexChange::Upsert(p)
        };
        index
            .apply(
                false,
                &[
                    at("a1", 1, &["rust", "web"], 100),
                    at("a2", 2, &["rust"], 300),
                    at("a3", 3, &["go"], 200),
                    // Same millisecond as a2: the greater id first.
                    at("a4", 1, &["rust"], 300),
                ],
                1,
            )
            .unwrap();
        assert_eq!(
            listed(&index, None, None, 10, 0).ids,
            ["a4", "a2", "a3", "a1"]
        );
        assert_eq!(listed(&index, None, None, 10, 0).total, 4);
        let rust = listed(&index, Some("rust"), None, 2, 0);
        assert_eq!(
            (rust.ids.as_slice(), rust.total),
            (&["a4".to_string(), "a2".to_string()][..], 3)
        );
        assert_eq!(listed(&index, Some("rust"), None, 2, 2).ids, ["a1"]);
        assert_eq!(
            listed(&index, Some("rus"), None, 10, 0).total,
            0,
            "tags match whole"
        );
        let feed = listed(&index, None, Some(&[1, 3]), 10, 0);
        assert_eq!(
            (feed.ids, feed.total),
            (vec!["a4".to_string(), "a3".into(), "a1".into()], 3)
        );
        assert_eq!(listed(&index, Some("web"), Some(&[1]), 10, 0).ids, ["a1"]);
        assert_eq!(listed(&index, None, Some(&[]), 10, 0), ListPage::default());
        assert_eq!(
            index.tags(10).unwrap(),
            [("rust".to_string(), 3), ("go".into(), 1), ("web".into(), 1)]
        );
        assert_eq!(index.tags(1).unwrap(), [("rust".to_string(), 3)]);
        let mut liked = post("a5", "t", &[], "b");
        liked.favorited_by = vec![7, 8];
        liked.published_ms = 400;
        index
            .apply(false, &[IndexChange::Upsert(liked)], 1)
            .unwrap();
        let fan = |user| {
            index
                .list(&ListQuery {
                    favorited_by: Some(user),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
        };
        assert_eq!((fan(7).ids, fan(7).total), (vec!["a5".to_string()], 1));
        assert_eq!(fan(9).total, 0);
        index
            .apply(false, &[IndexChange::Remove("a5".into())], 1)
            .unwrap();

        // Counts leave out removed and replaced posts (deletes in a segment are honoured).
        index
            .apply(
                false,
                &[IndexChange::Remove("a2".into()), at("a4", 1, &["go"], 50)],
                2,
            )
            .unwrap();
        assert_eq!(listed(&index, None, None, 10, 0).ids, ["a3", "a1", "a4"]);
        assert_eq!(
            index.tags(10).unwrap(),
            [("go".to_string(), 2), ("rust".into(), 1), ("web".into(), 1)]
        );
    }

    /// A short scan reaches back to every write of this process that was in flight, or
    /// finished, since the previous scan began; then only to the previous scan's start.
    #[test]
    fn short_scans_reach_back_to_local_writes_in_flight_or_finished_since_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let index = std::sync::Arc::new(SearchIndex::open(dir.path()).unwrap());
        let later = now_ms() + 60_000; // a previous scan "after" every stamp below
        assert_eq!(index.short_scan_from(later), later - SHORT_SCAN_MARGIN_MS);
        let before = now_ms();
        let first = index.write_starting();
        let second = index.write_starting();
        let reach = index.short_scan_from(later);
        assert!(
            (before - SHORT_SCAN_MARGIN_MS..=now_ms() - SHORT_SCAN_MARGIN_MS).contains(&reach),
            "in flight: {reach}"
        );
        drop(first);
        drop(second);
        let finished = index.short_scan_from(later);
        assert_eq!(finished, reach, "finished since the last scan began");
        assert_eq!(
            index.short_scan_from(later),
            later - SHORT_SCAN_MARGIN_MS,
            "already seen by the last scan"
        );
        assert_eq!(index.short_scan_from(0), -SHORT_SCAN_MARGIN_MS);
    }

    #[tokio::test]
    async fn covered_waits_for_a_scan_that_started_after_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let index = std::sync::Arc::new(SearchIndex::open(dir.path()).unwrap());
        let short = std::time::Duration::from_millis(50);
        let before = index.write_ticket();
        assert!(!index.covered(before, short).await, "nothing scanned yet");
        // A scan that was running while the write finished may have missed it.
        let running = index.begin_scan();
        let ticket = index.write_ticket();
        index.mark_covered(running);
        assert!(
            index.covered(before, short).await,
            "an earlier write is covered"
        );
        assert!(
            !index.covered(ticket, short).await,
            "the scan began before the write"
        );
        let waiting = {
            let index = index.clone();
            tokio::spawn(async move {
                index
                    .covered(ticket, std::time::Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(short).await;
        assert!(!waiting.is_finished());
        let next = index.begin_scan();
        index.mark_covered(running); // an older scan never moves it back
        tokio::time::sleep(short).await;
        assert!(
            !waiting.is_finished(),
            "the next scan is not searchable yet"
        );
        index.mark_covered(next);
        assert!(waiting.await.unwrap());
    }

    fn search(index: &SearchIndex, text: &str) -> SearchPage {
        index
            .search(&SearchQuery {
                text: text.into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
    }

    #[test]
    fn boosts_typos_filters_snippets_and_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.checkpoint(), None);
        index
            .apply(
                false,
                &[
                    IndexChange::Upsert(post(
                        "a",
                        "Notes on cooking",
                        &["food"],
                        "We talk about ownership <b>here</b>.",
                    )),
                    IndexChange::Upsert(post(
                        "b",
                        "Ownership explained",
                        &["rust"],
                        "Borrowing rules.",
                    )),
                    IndexChange::Upsert(post("c", "Weekly links", &["ownership"], "Nothing else.")),
                ],
                42,
            )
            .unwrap();
        assert_eq!(index.checkpoint().map(|c| c.low_ms), Some(42));
        let page = search(&index, "ownership");
        let order: Vec<&str> = page.hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(order, ["b", "c", "a"], "title 10 > tags 5 > body 1");
        assert_eq!(page.total, 3);
        assert_eq!(page.hits[0].title_html, "<mark>Ownership</mark> explained");
        assert!(
            page.hits[2].body_html.contains("<mark>ownership</mark>"),
            "{}",
            page.hits[2].body_html
        );
        assert!(
            page.hits[2].body_html.contains("&lt;b&gt;"),
            "escaped: {}",
            page.hits[2].body_html
        );

        // One edit (a swap) away, in a word of 5+ letters: still found, and highlighted.
        let typo = search(&index, "onwership");
        assert_eq!(typo.total, 3);
        assert_eq!(typo.hits[0].title_html, "<mark>Ownership</mark> explained");
        // Short words must match exactly.
        assert_eq!(search(&index, "foo").total, 0);
        assert_eq!(search(&index, "food").total, 1);
        // Every word must match.
        assert_eq!(search(&index, "ownership borrowing").total, 1);

        let filtered = index
            .search(&SearchQuery {
                text: "ownership".into(),
                tag: Some("rust".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            filtered
                .hits
                .iter()
                .map(|h| h.id.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        let none = index
            .search(&SearchQuery {
                text: "ownership".into(),
                difficulty: Some("advanced".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(none.total, 0);

        // Replace and remove.
        index
            .apply(
                false,
                &[
                    IndexChange::Upsert(post("b", "Lifetimes", &[], "x")),
                    IndexChange::Remove("c".into()),
                ],
                43,
            )
            .unwrap();
        assert_eq!(
            search(&index, "ownership")
                .hits
                .iter()
                .map(|h| h.id.as_str())
                .collect::<Vec<_>>(),
            ["a"]
        );
        drop(index);

        // Reopened: same documents, same checkpoint.
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.checkpoint().map(|c| c.low_ms), Some(43));
        assert_eq!(index.len(), 2);
        // A second writer on the same folder is refused with a clear message.
        let err = SearchIndex::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("in use"), "{err}");
    }
}
