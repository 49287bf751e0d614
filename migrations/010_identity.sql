-- Identity: OAuth2 clients (admin and service callers), customers' sign-in credentials and the
-- failed-attempt counters behind sign-in rate limiting. Secrets and passwords are stored only as
-- argon2id hashes in the PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).

CREATE TABLE identity.clients (
    client_id   text        PRIMARY KEY CONSTRAINT clients_id_format CHECK (client_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    secret_hash text        NOT NULL CONSTRAINT clients_secret_argon2id CHECK (secret_hash LIKE '$argon2id$%'),
    roles       text[]      NOT NULL CONSTRAINT clients_roles_known CHECK (cardinality(roles) >= 1 AND roles <@ ARRAY['admin', 'service']::text[]),
    name        text        NOT NULL CONSTRAINT clients_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One credential per customer, written by register-customer in the same transaction as the
-- customer row. email mirrors customers.customers.email (the trigger below keeps it in step when
-- update-customer changes an address), so sign-in reads only this schema.
CREATE TABLE identity.credentials (
    customer_id   uuid        PRIMARY KEY REFERENCES customers.customers (id) ON DELETE CASCADE,
    email         text        NOT NULL,
    password_hash text        NOT NULL CONSTRAINT credentials_password_argon2id CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX credentials_email_key ON identity.credentials (lower(email));

CREATE FUNCTION identity.sync_credential_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity.credentials SET email = NEW.email, updated_at = now() WHERE customer_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER customers_email_to_credentials
    AFTER UPDATE OF email ON customers.customers
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION identity.sync_credential_email();

-- Failed sign-ins and client authentications in fixed windows, shared by every replica. key is
-- "email:" plus the SHA-256 of the lower-cased address (no address is stored here), "ip:" plus
-- the caller's address, or "client:" plus a client id.
CREATE TABLE identity.failed_attempts (
    key          text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer     NOT NULL CONSTRAINT failed_attempts_positive CHECK (failures >= 1)
);

CREATE INDEX failed_attempts_window ON identity.failed_attempts (window_start);

---- create above / drop below ----

DROP TABLE identity.failed_attempts;
DROP TRIGGER customers_email_to_credentials ON customers.customers;
DROP FUNCTION identity.sync_credential_email();
DROP TABLE identity.credentials;
DROP TABLE identity.clients;
