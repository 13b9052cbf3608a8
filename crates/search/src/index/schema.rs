//! What a document of the post index holds: the searched text fields (title, tags, body
//! text), the exact-match filters (tag, difficulty, author, fan) and `published`, the fast
//! field lists are ordered by.

use tantivy::schema::{Field, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT};
use tantivy::TantivyDocument;

#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) slug: Field,
    pub(super) title: Field,
    pub(super) tags: Field,
    pub(super) tag: Field,
    pub(super) body: Field,
    pub(super) difficulty: Field,
    pub(super) author: Field,
    pub(super) published: Field,
    pub(super) fan: Field,
}

/// The name of the fast field lists are ordered by.
pub(super) const PUBLISHED: &str = "published";

pub(super) fn schema() -> (Schema, Fields) {
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

/// The clause that leaves the posts `hidden` (hex ids) out of a query, if there are any.
pub(super) fn leave_out(
    f: &Fields,
    hidden: &[String],
) -> Option<(tantivy::query::Occur, Box<dyn tantivy::query::Query>)> {
    (!hidden.is_empty()).then(|| {
        let ids = hidden
            .iter()
            .map(|id| tantivy::Term::from_field_text(f.id, id));
        let clause: Box<dyn tantivy::query::Query> =
            Box::new(tantivy::query::TermSetQuery::new(ids));
        (tantivy::query::Occur::MustNot, clause)
    })
}

/// The first stored text of `field` in `doc` ("" when absent).
pub(super) fn stored_text(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
