-- Every notification sent, once per event and channel.
CREATE TABLE notifications.notifications (
    id          uuid PRIMARY KEY,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    order_id    uuid,
    customer_id uuid        NOT NULL,
    channel     text        NOT NULL CONSTRAINT notifications_channel CHECK (channel IN ('email', 'sms')),
    recipient   text        NOT NULL,
    subject     text        NOT NULL DEFAULT '',
    body        text        NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_once UNIQUE (event_id, channel)
);

CREATE INDEX notifications_by_order ON notifications.notifications (order_id);

---- create above / drop below ----

DROP TABLE notifications.notifications;
