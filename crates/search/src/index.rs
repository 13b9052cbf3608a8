//! The post index: one Tantivy document per published post. Title, tags and body text are
//! searched with BM25 and the boosts title 10, tags 5, body 1; each query word of five letters
//! or more also matches terms one edit away (a typo, including a swapped pair of letters), at
//! half weight so exact matches rank first. `tag`, `difficulty` and `author` filter without
//! changing scores. Every commit stores the change-feed checkpoint it covers, so a restarted
//! server resumes where its index left off.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Bumped whenever the schema or the analysis changes: an index of another version is rebuilt.
const SCHEMA_VERSION: u32 = 1;
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
    pub author_id: u64,
    pub title: String,
    pub tags: Vec<String>,
    pub difficulty: Option<String>,
    /// Plain text of the Markdown body.
    pub body_text: String,
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
    pub score: f32,
    pub title_html: String,
    pub body_html: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    pub total: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    tags: Field,
    tag: Field,
    body: Field,
    difficulty: Field,
    author: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", TEXT | STORED),
        tags: b.add_text_field("tags", TEXT),
        tag: b.add_text_field("tag", STRING),
        body: b.add_text_field("body", TEXT | STORED),
        difficulty: b.add_text_field("difficulty", STRING),
        author: b.add_u64_field("author", INDEXED | FAST),
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
        })
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
            let text = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let title = text(self.fields.title);
            let body = text(self.fields.body);
            let title_snippet = titles.snippet(&title);
            let mut body_snippet = bodies.snippet(&body);
            body_snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            hits.push(Hit {
                id: text(self.fields.id),
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
            author_id: 1,
            title: title.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            difficulty: Some("beginner".into()),
            body_text: body.into(),
        }
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
