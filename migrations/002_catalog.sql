-- Products. Prices are integer minor units of an ISO 4217 currency. A deleted product keeps its
-- row (orders refer to it) and its SKU; it is hidden from reads.
CREATE TABLE catalog.products (
    id             uuid PRIMARY KEY,
    sku            text        NOT NULL CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name           text        NOT NULL CONSTRAINT products_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    description    text        NOT NULL DEFAULT '' CONSTRAINT products_description_length CHECK (char_length(description) <= 5000),
    price_amount   bigint      NOT NULL CONSTRAINT products_price_not_negative CHECK (price_amount >= 0),
    price_currency text        NOT NULL CONSTRAINT products_currency_format CHECK (price_currency ~ '^[A-Z]{3}$'),
    active         boolean     NOT NULL DEFAULT true,
    version        bigint      NOT NULL DEFAULT 1 CONSTRAINT products_version_positive CHECK (version >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);

CREATE UNIQUE INDEX products_sku_key ON catalog.products (sku);
CREATE INDEX products_name_trgm ON catalog.products USING gin (name public.gin_trgm_ops);
CREATE INDEX products_live_id ON catalog.products (id) WHERE deleted_at IS NULL;

-- Stored first responses of create requests, keyed by the client's Idempotency-Key.
CREATE TABLE catalog.idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

---- create above / drop below ----

DROP TABLE catalog.idempotency_keys;
DROP TABLE catalog.products;
