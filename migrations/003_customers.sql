-- Customers. E-mail is unique regardless of case; phone numbers are E.164; SMS notifications
-- need a phone number.
CREATE TABLE customers.customers (
    id           uuid PRIMARY KEY,
    email        text        NOT NULL CONSTRAINT customers_email_length CHECK (char_length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
    name         text        NOT NULL CONSTRAINT customers_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    phone        text        CONSTRAINT customers_phone_e164 CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    notify_email boolean     NOT NULL DEFAULT true,
    notify_sms   boolean     NOT NULL DEFAULT false,
    version      bigint      NOT NULL DEFAULT 1 CONSTRAINT customers_version_positive CHECK (version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_sms_needs_phone CHECK (NOT notify_sms OR phone IS NOT NULL)
);

CREATE UNIQUE INDEX customers_email_key ON customers.customers (lower(email));

CREATE TABLE customers.idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

---- create above / drop below ----

DROP TABLE customers.idempotency_keys;
DROP TABLE customers.customers;
