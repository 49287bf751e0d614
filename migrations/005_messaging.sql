-- Platform messaging: the transactional outbox every context writes its events to, and the inbox
-- every consumer records handled event ids in. Both live in the one database, so an effect, the
-- events it causes and the record that an incoming event was handled commit together.
CREATE SCHEMA messaging;

CREATE TABLE messaging.outbox (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    event_type   text        NOT NULL CONSTRAINT outbox_type_format CHECK (event_type ~ '^[a-z]+(\.[a-z_]+)+$'),
    correlation_id text      NOT NULL,
    -- The whole envelope as consumers receive it.
    envelope     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay reads unpublished rows in order; published rows drop out of this index.
CREATE INDEX outbox_unpublished ON messaging.outbox (seq) WHERE published_at IS NULL;

-- Wake the relay as soon as a transaction that wrote events commits (NOTIFY is delivered on
-- commit, never for a rolled-back transaction).
CREATE FUNCTION messaging.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('messaging_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON messaging.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION messaging.notify_outbox();

CREATE TABLE messaging.inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

---- create above / drop below ----

DROP SCHEMA messaging CASCADE;
