//! Search over posts: a Tantivy index embedded in each server instance ([`index`]), fed by the
//! posts change feed in MongoDB ([`indexer`]) and rebuildable from it (`techhub reindex`).
//! It works the same whatever MongoDB-compatible server holds the posts: no text index is
//! needed there.

pub mod index;
pub mod indexer;

pub use index::{
    Hit, IndexChange, IndexedPost, ListPage, ListQuery, SearchIndex, SearchPage, SearchQuery,
};
pub use indexer::Indexer;
