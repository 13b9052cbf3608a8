//! Subscriptions and billing: `GET /api/plans`, `GET`/`PUT`/`DELETE /api/subscription`, `GET`/`POST
//! /api/payments` (with `Idempotency-Key`), `GET /api/orders`. Amounts are strings holding
//! exact decimals (`"12.00"`), never floats.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use techhub_accounts::billing::{self, KeyClaim, Order, Payment, Subscription};
use techhub_accounts::payments::Card;
use techhub_core::domain::FieldError;
use techhub_core::plans::{BillingCycle, Entitlements, Plan};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::{parse, ApiJson, AuthUser};
use crate::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionBody {
    #[schema(example = "pro")]
    plan: Plan,
    #[schema(example = "active")]
    status: String,
    billing_cycle: BillingCycle,
    #[schema(example = "12.00")]
    price: String,
    currency: String,
    auto_renew: bool,
    /// True after a cancellation: the plan ends with the current cycle.
    cancel_at_period_end: bool,
    current_period_start: String,
    current_period_end: Option<String>,
    has_payment_method: bool,
    entitlements: Entitlements,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        SubscriptionBody {
            entitlements: s.plan.entitlements(),
            plan: s.plan,
            status: s.status,
            billing_cycle: s.billing_cycle,
            price: s.price.to_string(),
            currency: s.currency,
            auto_renew: s.auto_renew,
            cancel_at_period_end: s.plan != Plan::Free && !s.auto_renew,
            current_period_start: crate::iso(s.current_period_start),
            current_period_end: s.current_period_end.map(crate::iso),
            has_payment_method: s.has_payment_method,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    id: u64,
    order_number: String,
    item_type: String,
    description: String,
    subtotal: String,
    tax: String,
    total: String,
    currency: String,
    status: String,
    created_at: String,
}

impl From<Order> for OrderBody {
    fn from(o: Order) -> Self {
        OrderBody {
            id: o.id,
            order_number: o.order_number,
            item_type: o.item_type,
            description: o.description,
            subtotal: o.subtotal.to_string(),
            tax: o.tax.to_string(),
            total: o.total.to_string(),
            currency: o.currency,
            status: o.status,
            created_at: crate::iso(o.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBody {
    id: u64,
    order_id: Option<u64>,
    amount: String,
    currency: String,
    status: String,
    provider: String,
    provider_reference: Option<String>,
    failure_reason: Option<String>,
    created_at: String,
}

impl From<Payment> for PaymentBody {
    fn from(p: Payment) -> Self {
        PaymentBody {
            id: p.id,
            order_id: p.order_id,
            amount: p.amount.to_string(),
            currency: p.currency,
            status: p.status,
            provider: p.provider,
            provider_reference: p.provider_reference,
            failure_reason: p.failure_reason,
            created_at: crate::iso(p.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionResponse {
    subscription: SubscriptionBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<OrderBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment: Option<PaymentBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardBody {
    #[schema(example = "4242424242424242")]
    number: String,
    exp_month: u32,
    exp_year: i32,
    cvc: String,
}

impl CardBody {
    fn parse(self) -> Result<Card, FieldError> {
        Card::parse(
            &self.number,
            self.exp_month,
            self.exp_year,
            &self.cvc,
            Utc::now().date_naive(),
        )
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeSubscriptionRequest {
    subscription: ChangeSubscriptionBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSubscriptionBody {
    /// `free`, `pro` or `enterprise`.
    plan: Option<String>,
    /// `monthly` (default) or `yearly`.
    billing_cycle: Option<String>,
    /// Needed for a paid plan unless a payment method is saved.
    card: Option<CardBody>,
}

/// One plan on offer: its prices per cycle and what it allows.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanOffer {
    plan: Plan,
    #[schema(example = "12.00")]
    monthly_price: String,
    /// A year costs ten months.
    #[schema(example = "120.00")]
    yearly_price: String,
    currency: &'static str,
    entitlements: Entitlements,
}

#[derive(Serialize, ToSchema)]
pub struct PlansResponse {
    plans: Vec<PlanOffer>,
}

/// The plans on offer, cheapest first: prices and entitlements (public, for comparison).
#[utoipa::path(get, path = "/api/plans", tag = "billing", responses((status = 200, body = PlansResponse)))]
pub(crate) async fn list_plans() -> Json<PlansResponse> {
    let plans = Plan::ALL
        .iter()
        .map(|&plan| PlanOffer {
            plan,
            monthly_price: format!("{:.2}", plan.price(BillingCycle::Monthly)),
            yearly_price: format!("{:.2}", plan.price(BillingCycle::Yearly)),
            currency: techhub_core::plans::CURRENCY,
            entitlements: plan.entitlements(),
        })
        .collect();
    Json(PlansResponse { plans })
}

/// The current plan, its billing cycle and what it allows.
#[utoipa::path(get, path = "/api/subscription", tag = "billing",
    responses((status = 200, body = SubscriptionResponse), (status = 401)), security(("token" = [])))]
pub(crate) async fn get_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let subscription = billing::current(&state.stores.mysql, auth.id).await?;
    Ok(Json(SubscriptionResponse {
        subscription: subscription.into(),
        order: None,
        payment: None,
    }))
}

/// Change plan: a paid plan is charged at once and starts a new billing cycle.
#[utoipa::path(put, path = "/api/subscription", tag = "billing", request_body = ChangeSubscriptionRequest,
    responses(
        (status = 200, body = SubscriptionResponse),
        (status = 402, description = "The card was declined; nothing changed"),
        (status = 409, description = "Another billing change is in progress"),
        (status = 422, description = "Unknown plan, invalid card, or already on this plan"),
    ), security(("token" = [])))]
pub(crate) async fn change_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ChangeSubscriptionRequest>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let body = req.subscription;
    let mut errors = Vec::new();
    let plan = match body.plan.as_deref() {
        None => {
            errors.push(FieldError::new("plan", "can't be blank"));
            None
        }
        Some(p) => Plan::parse(p).map_err(|e| errors.push(e)).ok(),
    };
    let cycle = BillingCycle::parse(body.billing_cycle.as_deref().unwrap_or("monthly"))
        .map_err(|e| errors.push(e))
        .ok();
    let card = match body.card {
        Some(card) => card.parse().map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let (Some(plan), Some(cycle)) = (plan, cycle) else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let change = billing::change_plan(
        &state.stores.mysql,
        state.payments.as_ref(),
        auth.id,
        plan,
        cycle,
        card,
    )
    .await?;
    Ok(Json(SubscriptionResponse {
        subscription: change.subscription.into(),
        order: change.order.map(Into::into),
        payment: change.payment.map(Into::into),
    }))
}

/// Cancel: no renewal; the plan stays active to the end of the paid cycle.
#[utoipa::path(delete, path = "/api/subscription", tag = "billing",
    responses((status = 200, body = SubscriptionResponse), (status = 422, description = "Nothing to cancel on the free plan")),
    security(("token" = [])))]
pub(crate) async fn cancel_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let subscription = billing::cancel(&state.stores.mysql, auth.id).await?;
    Ok(Json(SubscriptionResponse {
        subscription: subscription.into(),
        order: None,
        payment: None,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct Page {
    /// At most 100; 20 when left out.
    limit: Option<u32>,
    offset: Option<u32>,
}

impl Page {
    fn bounds(&self) -> Result<(u32, u32), ApiError> {
        let limit = crate::validate::page_limit(self.limit.map(i64::from))?;
        Ok((limit as u32, self.offset.unwrap_or(0)))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentsResponse {
    payments: Vec<PaymentBody>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrdersResponse {
    orders: Vec<OrderBody>,
}

/// The user's payments, newest first.
#[utoipa::path(get, path = "/api/payments", tag = "billing", params(Page),
    responses((status = 200, body = PaymentsResponse)), security(("token" = [])))]
pub(crate) async fn list_payments(
    State(state): State<AppState>,
    auth: AuthUser,
    page: Query<Page>,
) -> Result<Json<PaymentsResponse>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let payments = billing::payments(&state.stores.mysql, auth.id, limit, offset).await?;
    Ok(Json(PaymentsResponse {
        payments: payments.into_iter().map(Into::into).collect(),
    }))
}

/// The user's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "billing", params(Page),
    responses((status = 200, body = OrdersResponse)), security(("token" = [])))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    auth: AuthUser,
    page: Query<Page>,
) -> Result<Json<OrdersResponse>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let orders = billing::orders(&state.stores.mysql, auth.id, limit, offset).await?;
    Ok(Json(OrdersResponse {
        orders: orders.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePaymentRequest {
    payment: CreatePaymentBody,
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePaymentBody {
    /// A decimal string such as `"19.99"`.
    #[schema(value_type = String, example = "19.99")]
    amount: Value,
    /// Only `USD`.
    currency: Option<String>,
    description: Option<String>,
    card: Option<CardBody>,
}

/// A one-off payment. With an `Idempotency-Key` header, repeating the request (also
/// concurrently) charges once and returns the first response again.
#[utoipa::path(post, path = "/api/payments", tag = "billing", request_body = CreatePaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 255 printable characters; same key, same result")),
    responses(
        (status = 201, description = "Paid", body = PaymentResponse),
        (status = 402, description = "Declined"),
        (status = 409, description = "A request with this key is still in progress"),
        (status = 422, description = "Invalid amount, currency, card or key; or the key was used for another request"),
    ), security(("token" = [])))]
pub(crate) async fn create_payment(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    // Validate fully before claiming the key: an invalid request never occupies it.
    let content_type_ok = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !content_type_ok {
        return Err(ApiError::UnsupportedMediaType);
    }
    let req: CreatePaymentRequest = parse(&body)?;
    let p = req.payment;
    let mut errors = Vec::new();
    let amount = billing::parse_amount(&p.amount)
        .map_err(|e| errors.push(e))
        .ok();
    if let Some(currency) = p.currency.as_deref() {
        if !currency.eq_ignore_ascii_case(techhub_core::plans::CURRENCY) {
            errors.push(FieldError::new("currency", "only USD is accepted"));
        }
    }
    let description = p.description.unwrap_or_else(|| "One-off payment".into());
    if description.trim().is_empty() || description.chars().count() > 255 {
        errors.push(FieldError::new(
            "description",
            "must be 1 to 255 characters",
        ));
    }
    let card = match p.card {
        Some(card) => card.parse().map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::new("card", "can't be blank"));
            None
        }
    };
    let (Some(amount), Some(card), true) = (amount, card, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };

    let Some(key) = key else {
        let (status, body) = payment_response(&state, auth.id, amount, &description, card).await?;
        return Ok((status, Json(body)).into_response());
    };
    let hash = hex(&Sha256::digest(&body));
    let db = &state.stores.mysql;
    match billing::claim_key(db, auth.id, &key, &hash).await? {
        KeyClaim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, Json(body)).into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        KeyClaim::Fresh => {
            match payment_response(&state, auth.id, amount, &description, card).await {
                Ok((status, body)) => {
                    billing::complete_key(db, auth.id, &key, status.as_u16(), &body).await?;
                    Ok((status, Json(body)).into_response())
                }
                Err(e) => {
                    // Nothing was charged or recorded that a retry would repeat: free the key.
                    if let Err(release) = billing::release_key(db, auth.id, &key).await {
                        tracing::warn!(error = %release, "could not release an idempotency key");
                    }
                    Err(e)
                }
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaymentResponse {
    payment: PaymentBody,
    order: OrderBody,
}

/// Charges and returns the response to send (and to store for the key): 201, or 402 with the
/// decline reason and the failed payment.
async fn payment_response(
    state: &AppState,
    user_id: u64,
    amount: rust_decimal::Decimal,
    description: &str,
    card: Card,
) -> Result<(StatusCode, Value), ApiError> {
    let (order, payment) = billing::pay(
        &state.stores.mysql,
        state.payments.as_ref(),
        user_id,
        amount,
        description,
        card,
    )
    .await?;
    if payment.status == "succeeded" {
        let body = PaymentResponse {
            payment: payment.into(),
            order: order.into(),
        };
        return Ok((
            StatusCode::CREATED,
            serde_json::to_value(body).expect("serializes"),
        ));
    }
    let reason = payment
        .failure_reason
        .clone()
        .unwrap_or_else(|| "declined".into());
    let body = json!({
        "errors": { "payment": [reason] },
        "payment": PaymentBody::from(payment),
        "order": OrderBody::from(order),
    });
    Ok((StatusCode::PAYMENT_REQUIRED, body))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .map_err(|_| ApiError::invalid("idempotencyKey", "must be printable ASCII"))?
        .trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "idempotencyKey",
            "must be 1 to 255 printable characters without spaces",
        ));
    }
    Ok(Some(key.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
