//! The bodies of `POST /api/articles` and `PUT /api/articles/{slug}`, checked field by field
//! into the content store's [`NewPost`] and [`PostChanges`]: every bad field is named in one
//! 422.

use serde::Deserialize;
use techhub_content::posts::{
    NewPost, PostChanges, DIFFICULTIES, MAX_BODY_CHARS, MAX_DESCRIPTION_CHARS, MAX_TAGS,
    MAX_TAG_CHARS, MAX_TITLE_CHARS,
};
use techhub_core::domain::{FieldError, PostStatus};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::validate::{one_of, text, Fields};

#[derive(Deserialize, ToSchema)]
pub struct NewArticleRequest {
    pub(crate) article: NewArticleBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewArticleBody {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
    /// TechHub: `published` (default) or `draft`.
    status: Option<String>,
    /// TechHub: up to 10.
    categories: Option<Vec<String>>,
    /// TechHub: `beginner`, `intermediate` or `advanced`.
    difficulty: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateArticleRequest {
    pub(crate) article: UpdateArticleBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateArticleBody {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
    /// TechHub: `draft`, `published` or `archived`.
    status: Option<String>,
    categories: Option<Vec<String>>,
    difficulty: Option<String>,
    /// TechHub: the version the client read; a stale one gets 409.
    version: Option<i64>,
}

fn title(raw: &str) -> Result<String, FieldError> {
    text("title", raw, 1, MAX_TITLE_CHARS as usize)
}

fn description(raw: &str) -> Result<String, FieldError> {
    text("description", raw, 0, MAX_DESCRIPTION_CHARS as usize)
}

fn body(raw: &str) -> Result<String, FieldError> {
    text("body", raw, 1, MAX_BODY_CHARS as usize)
}

fn difficulty(raw: &str) -> Result<String, FieldError> {
    one_of("difficulty", raw, &DIFFICULTIES)
}

/// Trimmed, de-duplicated, sorted tags within the limits.
fn tag_list(raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = text("tagList", tag, 1, MAX_TAG_CHARS as usize)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS as usize {
        return Err(FieldError::new(
            "tagList",
            format!("has too many tags (maximum is {MAX_TAGS})"),
        ));
    }
    // Stored and shown in alphabetical order, as RealWorld clients expect.
    tags.sort();
    Ok(tags)
}

/// Categories: like tags, at most 10 of at most 50 characters.
fn category_list(raw: &[String]) -> Result<Vec<String>, FieldError> {
    tag_list(raw).map_err(|e| FieldError::new("categories", e.message))
}

impl NewArticleBody {
    /// The new post `author` asked for, or the 422 naming every bad field.
    pub(crate) fn parse(self, author: u64) -> Result<NewPost, ApiError> {
        let mut fields = Fields::default();
        let title = fields.check(title(self.title.as_deref().unwrap_or("")));
        let description = fields.check(description(self.description.as_deref().unwrap_or("")));
        let body = fields.check(body(self.body.as_deref().unwrap_or("")));
        let tags = fields.check(tag_list(self.tag_list.as_deref().unwrap_or(&[])));
        let status = match self.status.as_deref() {
            None => Some(PostStatus::Published),
            Some(s) => fields.check(PostStatus::parse(
                "status",
                s,
                &[PostStatus::Draft, PostStatus::Published],
            )),
        };
        let categories = fields.check(category_list(self.categories.as_deref().unwrap_or(&[])));
        let difficulty = self
            .difficulty
            .as_deref()
            .map(|d| fields.check(difficulty(d)));
        let (
            Some(title),
            Some(description),
            Some(body),
            Some(tags),
            Some(status),
            Some(categories),
        ) = (title, description, body, tags, status, categories)
        else {
            return Err(fields.into_error());
        };
        fields.finish()?;
        Ok(NewPost {
            author_id: author,
            title,
            description,
            body,
            tags,
            status,
            categories,
            difficulty: difficulty.flatten(),
        })
    }
}

impl UpdateArticleBody {
    /// The changes asked for (fields left out stay as they are), or the 422 naming every bad
    /// field.
    pub(crate) fn parse(self) -> Result<PostChanges, ApiError> {
        let mut fields = Fields::default();
        let changes = PostChanges {
            title: self.title.and_then(|t| fields.check(title(&t))),
            description: self.description.and_then(|d| fields.check(description(&d))),
            body: self.body.and_then(|b| fields.check(body(&b))),
            tags: self.tag_list.and_then(|t| fields.check(tag_list(&t))),
            status: self
                .status
                .and_then(|s| fields.check(PostStatus::parse("status", &s, &PostStatus::SETTABLE))),
            categories: self
                .categories
                .and_then(|c| fields.check(category_list(&c))),
            difficulty: self.difficulty.map(|d| fields.check(difficulty(&d))),
            expected_version: self.version,
        };
        fields.finish()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_deduplicated_sorted_and_limited() {
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            tag_list(&raw(&[" rust ", "async", "rust"])).unwrap(),
            ["async", "rust"]
        );
        assert_eq!(tag_list(&raw(&[" "])).unwrap_err().field, "tagList");
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(tag_list(&eleven)
            .unwrap_err()
            .message
            .contains("maximum is 10"));
        assert_eq!(category_list(&eleven).unwrap_err().field, "categories");
    }
}
