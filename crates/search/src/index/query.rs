//! Ranked search over the index: BM25 over title, tags and body text with the boosts title
//! 10, tags 5, body 1; each query word of five letters or more also matches terms one edit
//! away (a typo, including a swapped pair of letters), at half weight so exact matches rank
//! first. `tag`, `difficulty` and `author` filter without changing scores. Hits carry
//! HTML-escaped snippets with the matched words in `<mark>`.

use std::collections::BTreeSet;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::{TantivyDocument, Term};

use super::schema::{leave_out, stored_text};
use super::{IndexedPost, SearchIndex};

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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    pub total: usize,
}

impl SearchIndex {
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
        hidden: &[String],
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
        clauses.extend(leave_out(&f, hidden));
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// Ranked posts matching `q`, best first. Blocking: call from a blocking thread.
    pub fn search(&self, q: &SearchQuery) -> anyhow::Result<SearchPage> {
        self.search_excluding(q, &[])
    }

    /// [`SearchIndex::search`] as a writer sees it: the posts `hidden` (hex ids: the writer's
    /// writes this index may not show yet) are left out of what the index holds, and those of
    /// the published posts `own` (their current state) that match come first, ranked among
    /// themselves (the writer is looking for what they just wrote; scores from two indexes
    /// do not compare), then the index's hits; the count includes them. Blocking.
    pub fn search_with(
        &self,
        q: &SearchQuery,
        hidden: &[String],
        own: &[IndexedPost],
    ) -> anyhow::Result<SearchPage> {
        if hidden.is_empty() && own.is_empty() {
            return self.search(q);
        }
        let mine = if own.is_empty() {
            SearchPage::default()
        } else {
            let all = SearchQuery {
                limit: own.len(),
                offset: 0,
                ..q.clone()
            };
            SearchIndex::in_memory(own)?.search(&all)?
        };
        let limit = q.limit.max(1);
        let m = mine.hits.len();
        let mut hits: Vec<Hit> = mine.hits.into_iter().skip(q.offset).take(limit).collect();
        let rest = limit - hits.len();
        let after_mine = SearchQuery {
            offset: q.offset.saturating_sub(m),
            limit: rest.max(1),
            ..q.clone()
        };
        let theirs = self.search_excluding(&after_mine, hidden)?;
        hits.extend(theirs.hits.into_iter().take(rest));
        Ok(SearchPage {
            hits,
            total: theirs.total + m,
        })
    }

    fn search_excluding(&self, q: &SearchQuery, hidden: &[String]) -> anyhow::Result<SearchPage> {
        let searcher = self.reader.searcher();
        let Some(query) = self.query(&searcher, q, hidden)? else {
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
    use crate::index::tests::post;
    use crate::index::IndexChange;

    fn search(index: &SearchIndex, text: &str) -> SearchPage {
        index
            .search(&SearchQuery {
                text: text.into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
    }

    /// A writer's search over an index that does not show their writes yet: their matching
    /// posts come first (a new one, and an edited one whose stale copy no longer matches is
    /// not found under its old words), the index's hits follow, and pages and the count
    /// cover both.
    #[test]
    fn a_search_with_the_writers_own_posts_finds_them_first_and_pages_over_both() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let theirs: Vec<IndexChange> = (0..5)
            .map(|i| IndexChange::Upsert(post(&format!("t{i}"), "Gardening notes", &[], "soil")))
            .chain([IndexChange::Upsert(post(
                "e",
                "Gardening basics",
                &[],
                "old",
            ))])
            .collect();
        index.apply(false, &theirs, 1).unwrap();
        let new = post("n", "Gardening with Rust", &["rust"], "new");
        let edited = post("e", "Woodwork basics", &[], "now about wood");
        let hidden = vec!["n".to_string(), "e".to_string()];
        let own = [new, edited];
        let find = |text: &str, offset: usize, limit: usize| {
            let q = SearchQuery {
                text: text.into(),
                limit,
                offset,
                ..Default::default()
            };
            index.search_with(&q, &hidden, &own).unwrap()
        };
        let all = find("gardening", 0, 10);
        let ids: Vec<&str> = all.hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids[0], "n", "the writer's new post first: {ids:?}");
        assert!(!ids.contains(&"e"), "the stale copy is not found: {ids:?}");
        assert_eq!((ids.len(), all.total), (6, 6));
        assert_eq!(all.hits[0].title_html, "<mark>Gardening</mark> with Rust");
        let paged: Vec<String> = (0..6)
            .flat_map(|o| find("gardening", o, 1).hits)
            .map(|h| h.id)
            .collect();
        assert_eq!(paged, ids, "one by one, the same order");
        assert_eq!(find("gardening", 1, 2).total, 6);
        let wood = find("woodwork", 0, 10);
        assert_eq!((wood.total, wood.hits[0].id.as_str()), (1, "e"));
        // Filters apply to the writer's posts too.
        let q = SearchQuery {
            text: "gardening".into(),
            tag: Some("rust".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(index.search_with(&q, &hidden, &own).unwrap().total, 1);
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
