//! Checking request fields at the edge: each check returns a [`FieldError`] naming the field
//! and the reason, and [`Fields`] gathers them so a request with several bad fields hears of
//! all of them in one 422.

use techhub_core::domain::FieldError;

use crate::error::ApiError;

/// The field errors of one request, gathered as its fields are checked.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// The checked value, or `None` with its error kept.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// Keeps an error found without a check.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// The 422 naming each bad field (for when a required value is missing).
    pub fn into_error(self) -> ApiError {
        ApiError::Invalid(self.0)
    }

    /// `Ok` when every field was valid, the 422 naming each bad one otherwise.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}

/// The required field `field`, or "can't be blank".
pub(crate) fn required<'a>(
    field: &'static str,
    value: &'a Option<String>,
) -> Result<&'a str, FieldError> {
    value
        .as_deref()
        .ok_or_else(|| FieldError::new(field, "can't be blank"))
}

/// `raw` trimmed, between `min` and `max` characters.
pub(crate) fn text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let n = trimmed.chars().count();
    if n < min {
        return Err(FieldError::new(field, "can't be blank"));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    Ok(trimmed.to_string())
}

/// `raw` lower-cased, if it is one of `allowed`.
pub(crate) fn one_of(
    field: &'static str,
    raw: &str,
    allowed: &[&str],
) -> Result<String, FieldError> {
    let value = raw.trim().to_ascii_lowercase();
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// An error when `value` is given and outside `lo..=hi`.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &'static str,
    value: Option<T>,
    lo: T,
    hi: T,
) -> Result<(), FieldError> {
    match value {
        Some(v) if v < lo || v > hi => Err(FieldError::new(
            field,
            format!("must be between {lo} and {hi}"),
        )),
        _ => Ok(()),
    }
}

/// The largest `offset` a list accepts: deeper than any list TechHub holds, and far below the
/// stores' own limits (MongoDB's skip is a signed 64-bit number).
pub(crate) const MAX_PAGE_OFFSET: u64 = 10_000_000;

/// The `offset` query parameter of a page: 0 to [`MAX_PAGE_OFFSET`], 0 when left out.
pub(crate) fn page_offset(offset: Option<u64>) -> Result<u64, ApiError> {
    let offset = offset.unwrap_or(0);
    if offset > MAX_PAGE_OFFSET {
        return Err(ApiError::invalid(
            "offset",
            format!("must be between 0 and {MAX_PAGE_OFFSET}"),
        ));
    }
    Ok(offset)
}

/// The `limit` query parameter of a page: 1 to 100, 20 when left out.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    Ok(limit as usize)
}
