//! The newest-first article lists (all, by tag, by authors — the feed —, by fan) with their
//! counts, and the tag counts behind `/api/tags`, from the index: MongoDB holds the posts, but
//! a sorted page of a large match is the one read it cannot answer quickly at a million
//! posts. `published` (milliseconds) is a fast field, so a page is a top-k over the matching
//! ids.

use std::collections::HashMap;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, Order, TantivyDocument, Term, TERMINATED};

use super::schema::{leave_out, stored_text, PUBLISHED};
use super::{IndexedPost, SearchIndex};

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

impl ListQuery {
    /// Whether the published post `p` belongs in this list.
    pub fn matches(&self, p: &IndexedPost) -> bool {
        self.tag.as_ref().is_none_or(|t| p.tags.contains(t))
            && self
                .authors
                .as_ref()
                .is_none_or(|a| a.contains(&p.author_id))
            && self
                .favorited_by
                .is_none_or(|fan| p.favorited_by.contains(&fan))
    }
}

/// A list entry: when published (ms), id, slug; lists are in descending order of these.
type Entry = (i64, String, String);

impl ListPage {
    fn of(entries: Vec<Entry>, total: usize) -> Self {
        let (ids, slugs) = entries.into_iter().map(|(_, id, slug)| (id, slug)).unzip();
        ListPage { ids, slugs, total }
    }
}

impl SearchIndex {
    /// One page of published posts matching `q`, newest first, and how many match. Posts
    /// published in the same millisecond come newest id first, as MongoDB's order has them.
    /// Blocking: call from a blocking thread.
    pub fn list(&self, q: &ListQuery) -> anyhow::Result<ListPage> {
        let (page, total) = self.entries(q, &[], q.offset, q.limit)?;
        Ok(ListPage::of(page, total))
    }

    /// [`SearchIndex::list`] as a writer sees it: the posts `hidden` (hex ids: the writer's
    /// writes this index may not show yet) are left out of what the index holds, and the
    /// published posts `own` (their current state, read from MongoDB) are merged in where
    /// they match, at their place in the order; the count includes them. Blocking.
    pub fn list_with(
        &self,
        q: &ListQuery,
        hidden: &[String],
        own: &[IndexedPost],
    ) -> anyhow::Result<ListPage> {
        if hidden.is_empty() && own.is_empty() {
            return self.list(q);
        }
        let mut mine: Vec<Entry> = own
            .iter()
            .filter(|p| q.matches(p))
            .map(|p| (p.published_ms, p.id.clone(), p.slug.clone()))
            .collect();
        mine.sort_by(|a, b| b.cmp(a));
        // At most `k` of the writer's posts come before the page: read the index's `k` before
        // it too. Each of theirs that sorts before all of those is before the page as well
        // (fewer than `start` others and `k` of theirs precede it); the others are placed
        // exactly among what was read.
        let k = mine.len();
        let start = q.offset.saturating_sub(k);
        let (theirs, total) = self.entries(q, hidden, start, q.limit + (q.offset - start))?;
        let mut before = start;
        let mut merged = Vec::with_capacity(theirs.len() + k);
        for entry in mine {
            if start > 0 && theirs.first().is_none_or(|first| entry > *first) {
                before += 1;
            } else {
                merged.push(entry);
            }
        }
        merged.extend(theirs);
        merged.sort_by(|a, b| b.cmp(a));
        let page = merged
            .into_iter()
            .skip(q.offset - before)
            .take(q.limit.max(1))
            .collect();
        Ok(ListPage::of(page, total + k))
    }

    /// The entries at `[offset, offset + limit)` of the posts matching `q` but not `hidden`,
    /// and how many match.
    fn entries(
        &self,
        q: &ListQuery,
        hidden: &[String],
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<(Vec<Entry>, usize)> {
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
                return Ok((Vec::new(), 0));
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
        if let Some(clause) = leave_out(&f, hidden) {
            clauses.push(clause);
            // A query of exclusions alone matches nothing.
            if clauses.len() == 1 {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
        }
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let searcher = self.reader.searcher();
        // How many match: for one term without deletes, its document frequency (no scan).
        let total = query.count(&searcher)?;
        let wanted = offset + limit.max(1);
        let top = |query: &dyn Query| {
            searcher.search(
                query,
                &(
                    TopDocs::with_limit(limit.max(1))
                        .and_offset(offset)
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
        Ok((page, total))
    }

    /// [`SearchIndex::tags`] counted once per commit: the count of the latest commit if it was
    /// made (and true), else `None`. Never blocks for long.
    pub fn tags_counted(&self, limit: usize) -> Option<std::sync::Arc<Vec<(String, u64)>>> {
        let commit = self.commits.load(std::sync::atomic::Ordering::SeqCst);
        let counted = self.tags_counted.lock().expect("tags lock poisoned");
        counted
            .as_ref()
            .filter(|(at, max, _)| *at == commit && *max == limit)
            .map(|(_, _, tags)| tags.clone())
    }

    /// [`SearchIndex::tags`], remembered until the next commit (see
    /// [`SearchIndex::tags_counted`]). Blocking: call from a blocking thread.
    pub fn count_tags(&self, limit: usize) -> anyhow::Result<std::sync::Arc<Vec<(String, u64)>>> {
        let commit = self.commits.load(std::sync::atomic::Ordering::SeqCst);
        let tags = std::sync::Arc::new(self.tags(limit)?);
        *self.tags_counted.lock().expect("tags lock poisoned") =
            Some((commit, limit, tags.clone()));
        Ok(tags)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::post;
    use crate::index::{IndexChange, IndexedPost};

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

    /// A writer's list over an index that does not show their writes yet (new posts, a
    /// retag, an unpublished post, a favorite, a post moved in time) pages exactly as a list
    /// over an index of the true state, at every offset, for every filter.
    #[test]
    fn a_list_with_the_writers_own_posts_pages_as_the_true_state_would() {
        let (stale_dir, true_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let stale = SearchIndex::open(stale_dir.path()).unwrap();
        let truth = SearchIndex::open(true_dir.path()).unwrap();
        let make = |i: u64, tags: &[&str], ms: i64| {
            let mut p = post(&format!("p{i:03}"), "t", tags, "b");
            p.author_id = 1 + i % 3;
            p.published_ms = ms;
            p
        };
        let before: Vec<IndexedPost> = (0..30)
            .map(|i| {
                make(
                    i,
                    if i % 2 == 0 { &["even"] } else { &["odd"] },
                    1_000 + 10 * i as i64,
                )
            })
            .collect();
        let upserts = |posts: &[IndexedPost]| -> Vec<IndexChange> {
            posts.iter().cloned().map(IndexChange::Upsert).collect()
        };
        stale.apply(false, &upserts(&before), 1).unwrap();
        // The writer's changes: two new posts (newest, and one in the middle of the order),
        // p004 retagged, p010 unpublished, p011 favorited by user 9, p012 moved to the start.
        let mut own = vec![make(100, &["even"], 5_000), make(101, &["odd"], 1_155)];
        let mut retagged = before[4].clone();
        retagged.tags = vec!["odd".into()];
        let mut liked = before[11].clone();
        liked.favorited_by = vec![9];
        let mut moved = before[12].clone();
        moved.published_ms = 1;
        own.extend([retagged, liked, moved]);
        let hidden: Vec<String> = own
            .iter()
            .map(|p| p.id.clone())
            .chain(["p010".to_string()])
            .collect();
        let mut now: Vec<IndexedPost> = before
            .iter()
            .filter(|p| !hidden.contains(&p.id))
            .cloned()
            .collect();
        now.extend(own.iter().cloned());
        truth.apply(false, &upserts(&now), 1).unwrap();
        let queries = [
            ListQuery::default(),
            ListQuery {
                tag: Some("even".into()),
                ..Default::default()
            },
            ListQuery {
                tag: Some("odd".into()),
                ..Default::default()
            },
            ListQuery {
                authors: Some(vec![1, 3]),
                ..Default::default()
            },
            ListQuery {
                favorited_by: Some(9),
                ..Default::default()
            },
        ];
        for q in queries {
            for limit in [1, 2, 3, 7, 40] {
                for offset in 0..36 {
                    let q = ListQuery {
                        limit,
                        offset,
                        ..q.clone()
                    };
                    assert_eq!(
                        stale.list_with(&q, &hidden, &own).unwrap(),
                        truth.list(&q).unwrap(),
                        "{q:?}"
                    );
                }
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
}
