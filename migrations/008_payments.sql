-- One payment per order: the primary key makes a second charge for an order impossible to record,
-- and the order id is the idempotency key sent to the payment provider.
CREATE TABLE payments.payments (
    order_id     uuid PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    amount       bigint      NOT NULL CONSTRAINT payments_amount_not_negative CHECK (amount >= 0),
    currency     text        NOT NULL CONSTRAINT payments_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL CONSTRAINT payments_status CHECK (status IN ('SUCCEEDED', 'FAILED')),
    provider_ref text,
    failure      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_ref_when_succeeded CHECK (status <> 'SUCCEEDED' OR provider_ref IS NOT NULL)
);

---- create above / drop below ----

DROP TABLE payments.payments;
