-- What each order holds. Reserving takes units out of stock.on_hand; releasing puts them back,
-- once: a reservation moves from RESERVED to RELEASED and never back.
CREATE TABLE inventory.reservations (
    order_id    uuid        NOT NULL,
    product_id  uuid        NOT NULL REFERENCES inventory.stock (product_id),
    quantity    integer     NOT NULL CONSTRAINT reservations_quantity CHECK (quantity >= 1),
    status      text        NOT NULL DEFAULT 'RESERVED' CONSTRAINT reservations_status CHECK (status IN ('RESERVED', 'RELEASED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    PRIMARY KEY (order_id, product_id),
    CONSTRAINT reservations_released_at CHECK ((status = 'RELEASED') = (released_at IS NOT NULL))
);

-- get-stock sums what is held per product.
CREATE INDEX reservations_held ON inventory.reservations (product_id) WHERE status = 'RESERVED';

-- Restocks, kept so stock can be reconciled: on_hand = initial + restocked - reserved + released.
CREATE TABLE inventory.restocks (
    id          uuid PRIMARY KEY,
    product_id  uuid        NOT NULL REFERENCES inventory.stock (product_id),
    quantity    integer     NOT NULL CONSTRAINT restocks_quantity CHECK (quantity BETWEEN 1 AND 1000000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

---- create above / drop below ----

DROP TABLE inventory.idempotency_keys;
DROP TABLE inventory.restocks;
DROP TABLE inventory.reservations;
