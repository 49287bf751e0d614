-- Stock per product. on_hand counts units free to sell: a reservation takes units out of it
-- (so initial - reserved + released = on_hand) and the CHECK makes overselling impossible.
CREATE TABLE inventory.stock (
    product_id uuid        PRIMARY KEY,
    on_hand    bigint      NOT NULL DEFAULT 0 CONSTRAINT stock_on_hand_not_negative CHECK (on_hand >= 0),
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE inventory.stock;
