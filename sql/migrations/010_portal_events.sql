-- What happened on the units' portal: page views, template downloads, uploads, refused requests
-- (the audit), written by the portal's desk from data/portal/events.jsonl. The first 'view' of a
-- unit for a period is when it opened its link (已读).
CREATE TABLE portal_events (
    happened_at TIMESTAMP NOT NULL, -- server time, in the workspace's time zone
    action  VARCHAR NOT NULL,     -- view / download / upload / refused
    unit    VARCHAR,              -- NULL for a link that names no valid unit
    period  VARCHAR,
    address VARCHAR NOT NULL,     -- the client's address as the server saw it
    detail  VARCHAR NOT NULL
);
