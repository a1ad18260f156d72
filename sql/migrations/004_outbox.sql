-- The delivery ledger: every notice rendered for a recipient's channel, and every attempt to send it.

CREATE SEQUENCE notice_id_seq START 1;
CREATE TABLE outbox (
    notice_id       INTEGER PRIMARY KEY,
    idempotency_key VARCHAR NOT NULL UNIQUE,  -- period|kind|recipient|channel|part|content hash
    period          VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,         -- reminder / receipt / chase / supervise / brief / bulletin
    recipient       VARCHAR NOT NULL,         -- unit or leader
    cc              VARCHAR[] NOT NULL,       -- copied (督办: the leaders in charge)
    channel         VARCHAR NOT NULL,         -- channel name from config, or 'file' when none is configured
    channel_url     VARCHAR,                  -- the URL as configured: secrets stay ${…} references
    body_format     VARCHAR NOT NULL,         -- text / markdown / html
    part            INTEGER NOT NULL,         -- 1-based part of a message split for the channel's size limit
    parts           INTEGER NOT NULL,
    title           VARCHAR NOT NULL,
    body            VARCHAR NOT NULL,
    content_hash    VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,         -- pending / sending / sent / failed / unconfigured
    attempts        INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP,
    last_error      VARCHAR,                  -- masked: never holds a secret
    file_path       VARCHAR                   -- where the notice was written when no channel is configured
);

CREATE TABLE outbox_attempts (
    notice_id   INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    channel     VARCHAR NOT NULL,             -- masked URL
    ok          BOOLEAN,
    error       VARCHAR,                      -- masked
    PRIMARY KEY (notice_id, attempt)
);
