//! Subscription plans: prices and entitlements, in one place. Money is an exact decimal,
//! never a float.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    Monthly,
    Yearly,
}

/// What a plan allows. `None` means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entitlements {
    /// Unpublished drafts a user may keep at once.
    pub max_drafts: Option<u32>,
    /// Learning paths a user may create.
    pub max_learning_paths: Option<u32>,
    /// How far back analytics reach, in days.
    pub analytics_history_days: Option<u32>,
    /// Skill assessments per month.
    pub assessments_per_month: Option<u32>,
}

pub const CURRENCY: &str = "USD";

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            _ => Err(FieldError::new(
                "plan",
                "must be one of free, pro, enterprise",
            )),
        }
    }

    /// Price of one billing cycle, in [`CURRENCY`]. A year costs ten months.
    pub fn price(self, cycle: BillingCycle) -> Decimal {
        let monthly = match self {
            Plan::Free => Decimal::ZERO,
            Plan::Pro => Decimal::new(1200, 2),
            Plan::Enterprise => Decimal::new(4900, 2),
        };
        match cycle {
            BillingCycle::Monthly => monthly,
            BillingCycle::Yearly => monthly * Decimal::from(10),
        }
    }

    pub fn entitlements(self) -> Entitlements {
        match self {
            Plan::Free => Entitlements {
                max_drafts: Some(5),
                max_learning_paths: Some(1),
                analytics_history_days: Some(30),
                assessments_per_month: Some(3),
            },
            Plan::Pro => Entitlements {
                max_drafts: Some(100),
                max_learning_paths: Some(20),
                analytics_history_days: Some(365),
                assessments_per_month: Some(50),
            },
            Plan::Enterprise => Entitlements {
                max_drafts: None,
                max_learning_paths: None,
                analytics_history_days: None,
                assessments_per_month: None,
            },
        }
    }
}

impl BillingCycle {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Yearly => "yearly",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "monthly" => Ok(BillingCycle::Monthly),
            "yearly" => Ok(BillingCycle::Yearly),
            _ => Err(FieldError::new("billingCycle", "must be monthly or yearly")),
        }
    }

    /// The end of a cycle that starts at `start`.
    pub fn end_of_cycle(
        self,
        start: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let months = match self {
            BillingCycle::Monthly => 1,
            BillingCycle::Yearly => 12,
        };
        start
            .checked_add_months(chrono::Months::new(months))
            .expect("a cycle end is representable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prices_are_exact_decimals() {
        assert_eq!(Plan::Pro.price(BillingCycle::Monthly).to_string(), "12.00");
        assert_eq!(Plan::Pro.price(BillingCycle::Yearly).to_string(), "120.00");
        assert_eq!(
            Plan::Enterprise.price(BillingCycle::Yearly).to_string(),
            "490.00"
        );
        assert_eq!(Plan::Free.price(BillingCycle::Yearly), Decimal::ZERO);
    }

    #[test]
    fn higher_plans_never_allow_less() {
        let limit = |v: Option<u32>| v.unwrap_or(u32::MAX);
        for pair in Plan::ALL.windows(2) {
            let (lo, hi) = (pair[0].entitlements(), pair[1].entitlements());
            assert!(limit(lo.max_drafts) <= limit(hi.max_drafts));
            assert!(limit(lo.max_learning_paths) <= limit(hi.max_learning_paths));
            assert!(limit(lo.analytics_history_days) <= limit(hi.analytics_history_days));
        }
    }

    #[test]
    fn a_monthly_cycle_from_january_31_ends_on_the_last_day_of_february() {
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        let end = BillingCycle::Monthly.end_of_cycle(start);
        assert_eq!(
            end,
            chrono::Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn unknown_plan_names_the_field() {
        let e = Plan::parse("platinum").unwrap_err();
        assert_eq!(e.field, "plan");
        assert_eq!(Plan::parse(" PRO ").unwrap(), Plan::Pro);
    }
}
