-- Orders. Prices are copied from the catalog when the order is placed; every order ends
-- COMPLETED or CANCELLED.
CREATE TABLE orders.orders (
    id             uuid PRIMARY KEY,
    customer_id    uuid        NOT NULL,
    status         text        NOT NULL DEFAULT 'PENDING' CONSTRAINT orders_status CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED')),
    total_amount   bigint      NOT NULL CONSTRAINT orders_total_not_negative CHECK (total_amount >= 0),
    currency       text        NOT NULL CONSTRAINT orders_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    cancel_reason  text,
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_reason_only_when_cancelled CHECK ((status = 'CANCELLED') = (cancel_reason IS NOT NULL)),
    CONSTRAINT orders_cancel_reason CHECK (cancel_reason IN ('stock_rejected', 'payment_failed')),
    -- Lets order_lines reference (id, currency): every line is priced in the order's currency.
    CONSTRAINT orders_id_currency UNIQUE (id, currency)
);

CREATE INDEX orders_by_customer ON orders.orders (customer_id, id);
CREATE INDEX orders_by_status ON orders.orders (status, id);

CREATE TABLE orders.order_lines (
    order_id      uuid    NOT NULL,
    line_no       integer NOT NULL CONSTRAINT order_lines_line_no CHECK (line_no BETWEEN 1 AND 50),
    product_id    uuid    NOT NULL,
    quantity      integer NOT NULL CONSTRAINT order_lines_quantity CHECK (quantity BETWEEN 1 AND 1000),
    unit_amount   bigint  NOT NULL CONSTRAINT order_lines_price_not_negative CHECK (unit_amount >= 0),
    currency      text    NOT NULL CONSTRAINT order_lines_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_one_line_per_product UNIQUE (order_id, product_id),
    CONSTRAINT order_lines_order_currency FOREIGN KEY (order_id, currency) REFERENCES orders.orders (id, currency)
);

CREATE TABLE orders.idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

---- create above / drop below ----

DROP TABLE orders.idempotency_keys;
DROP TABLE orders.order_lines;
DROP TABLE orders.orders;
