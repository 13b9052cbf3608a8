-- Accounts and billing: the single source of truth for identity and money.
-- Every statement is idempotent (IF NOT EXISTS) so a migration interrupted half-way on
-- MySQL, where DDL is not transactional, can be re-run safely.

CREATE TABLE IF NOT EXISTS users (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    email          VARCHAR(255)    NOT NULL,
    username       VARCHAR(40)     NOT NULL,
    password_hash  VARCHAR(255)    NOT NULL,
    display_name   VARCHAR(100)    NULL,
    bio            TEXT            NULL,
    image          VARCHAR(2048)   NULL,
    role           ENUM('user', 'admin')                  NOT NULL DEFAULT 'user',
    status         ENUM('active', 'suspended', 'deleted') NOT NULL DEFAULT 'active',
    email_verified BOOLEAN         NOT NULL DEFAULT FALSE,
    timezone       VARCHAR(64)     NOT NULL DEFAULT 'UTC',
    -- Increases with every change; events carry it so consumers can drop stale snapshots.
    version        INT UNSIGNED    NOT NULL DEFAULT 1,
    last_login_at  DATETIME(3)     NULL,
    created_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at     DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_email (email),
    UNIQUE KEY uq_users_username (username),
    KEY idx_users_status_created (status, created_at),
    CONSTRAINT chk_users_email CHECK (email LIKE '%_@_%'),
    CONSTRAINT chk_users_username CHECK (CHAR_LENGTH(username) >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS subscriptions (
    id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id              BIGINT UNSIGNED NOT NULL,
    plan_type            ENUM('free', 'pro', 'enterprise')                   NOT NULL DEFAULT 'free',
    status               ENUM('active', 'cancelled', 'expired', 'past_due') NOT NULL DEFAULT 'active',
    billing_cycle        ENUM('monthly', 'yearly')                           NOT NULL DEFAULT 'monthly',
    price                DECIMAL(10, 2)  NOT NULL DEFAULT 0.00,
    currency             CHAR(3)         NOT NULL DEFAULT 'USD',
    auto_renew           BOOLEAN         NOT NULL DEFAULT TRUE,
    -- The provider's reusable payment-method token (never a card number).
    payment_method_ref   VARCHAR(64)     NULL,
    current_period_start DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    current_period_end   DATETIME(3)     NULL,
    cancelled_at         DATETIME(3)     NULL,
    created_at           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at           DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY idx_subscriptions_user_status (user_id, status),
    KEY idx_subscriptions_renewal (status, auto_renew, current_period_end),
    CONSTRAINT fk_subscriptions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT chk_subscriptions_price CHECK (price >= 0),
    CONSTRAINT chk_subscriptions_period CHECK (current_period_end IS NULL OR current_period_end > current_period_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orders (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_number    VARCHAR(32)     NOT NULL,
    user_id         BIGINT UNSIGNED NOT NULL,
    subscription_id BIGINT UNSIGNED NULL,
    item_type       ENUM('subscription', 'course', 'other')                        NOT NULL DEFAULT 'subscription',
    description     VARCHAR(255)    NOT NULL,
    subtotal        DECIMAL(10, 2)  NOT NULL,
    tax             DECIMAL(10, 2)  NOT NULL DEFAULT 0.00,
    total           DECIMAL(10, 2)  NOT NULL,
    currency        CHAR(3)         NOT NULL DEFAULT 'USD',
    status          ENUM('pending', 'paid', 'failed', 'cancelled', 'refunded') NOT NULL DEFAULT 'pending',
    created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_orders_number (order_number),
    KEY idx_orders_user_created (user_id, created_at),
    KEY idx_orders_status (status),
    CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_orders_subscription FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE SET NULL,
    CONSTRAINT chk_orders_amounts CHECK (subtotal >= 0 AND tax >= 0 AND total = subtotal + tax)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS payment_history (
    id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id            BIGINT UNSIGNED NOT NULL,
    subscription_id    BIGINT UNSIGNED NULL,
    order_id           BIGINT UNSIGNED NULL,
    amount             DECIMAL(10, 2)  NOT NULL,
    currency           CHAR(3)         NOT NULL DEFAULT 'USD',
    status             ENUM('pending', 'succeeded', 'failed', 'refunded') NOT NULL DEFAULT 'pending',
    payment_method     VARCHAR(32)     NOT NULL DEFAULT 'card',
    provider           VARCHAR(32)     NOT NULL DEFAULT 'sandbox',
    provider_reference VARCHAR(255)    NULL,
    idempotency_key    VARCHAR(255)    NULL,
    failure_reason     VARCHAR(255)    NULL,
    created_at         DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at         DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_payment_idempotency (user_id, idempotency_key),
    KEY idx_payment_user_created (user_id, created_at),
    KEY idx_payment_status (status),
    CONSTRAINT fk_payment_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_payment_subscription FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE SET NULL,
    CONSTRAINT fk_payment_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE SET NULL,
    CONSTRAINT chk_payment_amount CHECK (amount >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Transactional outbox: a change that other stores must learn of inserts its event here in
-- the same transaction. The relay claims pending rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS outbox (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id        CHAR(36)        NOT NULL,
    aggregate_type  VARCHAR(50)     NOT NULL,
    aggregate_id    VARCHAR(64)     NOT NULL,
    event_type      VARCHAR(100)    NOT NULL,
    payload         JSON            NOT NULL,
    status          ENUM('pending', 'delivered', 'dead') NOT NULL DEFAULT 'pending',
    attempts        INT UNSIGNED    NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    last_error      TEXT            NULL,
    created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    delivered_at    DATETIME(3)     NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_event_id (event_id),
    KEY idx_outbox_claim (status, next_attempt_at, id),
    KEY idx_outbox_aggregate (aggregate_type, aggregate_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Which consumers already applied an outbox event, so a retry skips them.
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    outbox_id    BIGINT UNSIGNED NOT NULL,
    consumer     VARCHAR(64)     NOT NULL,
    delivered_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (outbox_id, consumer),
    CONSTRAINT fk_outbox_deliveries_outbox FOREIGN KEY (outbox_id) REFERENCES outbox (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Email verification: only the SHA-256 of the token is stored.
CREATE TABLE IF NOT EXISTS email_verifications (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id    BIGINT UNSIGNED NOT NULL,
    email      VARCHAR(255)    NOT NULL,
    token_hash CHAR(64)        NOT NULL,
    expires_at DATETIME(3)     NOT NULL,
    used_at    DATETIME(3)     NULL,
    created_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_email_verifications_token (token_hash),
    KEY idx_email_verifications_user (user_id),
    CONSTRAINT fk_email_verifications_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Idempotency-Key records: the first request with a key claims it; the stored response is
-- replayed to every later request with the same key.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id         BIGINT UNSIGNED NOT NULL,
    idempotency_key VARCHAR(255)    NOT NULL,
    request_hash    CHAR(64)        NOT NULL,
    status          ENUM('in_progress', 'completed') NOT NULL DEFAULT 'in_progress',
    response_status SMALLINT UNSIGNED NULL,
    response_body   JSON            NULL,
    created_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at      DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (user_id, idempotency_key),
    CONSTRAINT fk_idempotency_keys_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
