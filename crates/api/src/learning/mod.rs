//! The learning API on PostgreSQL: [`sessions`] (points, streaks, progress), [`paths`]
//! (learning paths and their milestones) and [`assessments`] (skill assessments). Each write
//! drops the user's cached dashboard.

pub mod assessments;
pub mod paths;
pub mod sessions;
