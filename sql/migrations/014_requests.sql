-- Requests from units through their portal link (DESIGN §9): 申请延期 (a new date for a task)
-- and 申请销号 (the task done, with evidence). Each keeps its whole life: who asked and when,
-- who decided, when and why. Evaluation reads the approved ones (DESIGN §5: an approved
-- extension is the task's new deadline from the request's month on; an approved 销号 makes the
-- task done from that month on).
CREATE SEQUENCE request_id_seq START 1;
CREATE TABLE requests (
    request_id      INTEGER PRIMARY KEY DEFAULT nextval('request_id_seq'),
    unit            VARCHAR NOT NULL,
    period          VARCHAR NOT NULL,     -- YYYY-MM: the link's period, from which it counts
    task_id         VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('extension', 'signoff')),
    new_date        DATE,                 -- extension: the date asked for
    reason          VARCHAR NOT NULL,
    evidence_id     INTEGER,              -- signoff: the evidence sent with it
    requested_at    TIMESTAMP NOT NULL,   -- server time of the request
    status          VARCHAR NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_at      TIMESTAMP,
    decided_by      VARCHAR,              -- the dashboard account
    decision_reason VARCHAR
);
