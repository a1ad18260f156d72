-- The dashboard's accounts (issue 19): supervisors (督查室) and leaders. A leader's account names
-- the leader as the tasks list them (tasks.leaders), so their tasks come first. Passwords only as
-- argon2 hashes. The audit (portal_events) records who acted on the dashboard.
CREATE TABLE users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL CHECK (role IN ('supervisor', 'leader')),
    leader        VARCHAR,                -- a leader's name in tasks.leaders (leaders only)
    password_hash VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT false
);
ALTER TABLE portal_events ADD COLUMN user_name VARCHAR;
